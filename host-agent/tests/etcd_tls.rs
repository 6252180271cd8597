//! vipd's etcd mode over TLS, the way an RKE2 or Harvester cluster runs
//! etcd: a private CA, server certificates with the members' addresses as
//! IP SANs, and client certificates required (`--client-cert-auth`, peers
//! too). The cluster is the testbed's (`testbed::etcd`,
//! [`EtcdCluster::start_tls`]); the PKI is made with `openssl`
//! (`testbed::tls`) in the testbed's temp directory.
//!
//! Three vipd nodes with `protocol = "etcd"` and a 2 s lease TTL; each
//! node's `[etcd]` is rewritten to the https endpoints, the cluster's CA
//! as `ca_file` and a client certificate of its own (`cert_file`,
//! `key_file`), as an operator would configure it from RKE2's
//! `server/tls/etcd/` files. The tests: a node holds and etcdctl (over TLS)
//! and every `vipd status` agree; a clean stop hands over; a node that
//! trusts the wrong CA never holds and says why while the others work;
//! `vipd check` accepts the TLS config and refuses a missing `ca_file`.
//!
//! Needs root, ip, sysctl, nft, etcd, etcdctl and openssl (skips
//! otherwise; fails if CI is set). Tests take the testbed's global lock.

mod netns;
mod testbed;

use std::path::Path;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use testbed::etcd::{self, EtcdBed, EtcdCluster, ELECTION};
use testbed::scenario::{self, assert_failover, Expect};
use testbed::tls::{self, Ca, KeyForm, Usage};
use testbed::{Peer, Testbed, SETUP};

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
/// The lease TTL of these tests, seconds (the default, and etcd's least).
const TTL_S: u32 = 2;
/// The tools these tests run: the testbed's and the TLS cluster's (ip,
/// sysctl, etcd, etcdctl, nft, openssl).
const TOOLS: &[&str] = etcd::TLS_TOOLS;

fn vipd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vipd"))
}

macro_rules! require_root {
    () => {
        if !testbed::can_run("the etcd TLS testbed", TOOLS) {
            return;
        }
    };
}

/// Three etcd nodes on a TLS cluster, configured for it, none started.
fn tls_bed() -> Result<EtcdBed, String> {
    let peers = [Peer::Etcd {
        priority: 100,
        ttl_s: TTL_S,
    }; 3];
    let mut bed = Testbed::new(vipd(), &peers, 10)?;
    let started = Instant::now();
    let etcd = EtcdCluster::start_tls(&mut bed)?;
    println!(
        "etcd over TLS: PKI made and 3 members healthy in {:.0} ms (members: {:.0} ms)",
        started.elapsed().as_secs_f64() * 1000.0,
        etcd.startup.as_secs_f64() * 1000.0
    );
    etcd.use_tls(&bed)?;
    Ok(EtcdBed { etcd, bed })
}

/// Three nodes over TLS, started so that etcd's line is node-a, node-b,
/// node-c, with node-a holding. Their client keys come in the three forms
/// an operator may have: node-a's P-256 SEC1 (RKE2's, as
/// [`EtcdCluster::use_tls`] issues), node-b's P-256 PKCS#8, node-c's RSA
/// PKCS#1 (kubeadm's).
fn setup() -> Result<EtcdBed, String> {
    let mut eb = tls_bed()?;
    let pki = eb.etcd.tls.as_ref().ok_or("no TLS")?;
    for (i, form) in [(B, KeyForm::Pkcs8), (C, KeyForm::RsaPkcs1)] {
        let name = &eb.bed.nodes[i].id.name;
        let pair = pki
            .ca
            .issue(&format!("{name}-{form:?}"), Usage::Client, form)?;
        etcd::set_etcd_tls(
            &eb.bed.nodes[i].config,
            &eb.etcd.endpoints(),
            pki.ca.cert(),
            Some(&pair),
        )?;
    }
    eb.start_all_in_line()?;
    Ok(eb)
}

/// `vipd status --json` on node `i`.
fn status_json(bed: &Testbed, i: usize) -> serde_json::Value {
    let out = bed.vipd_cmd(i, &["status", "--json"]).expect("vipd status");
    assert!(
        out.status.success(),
        "vipd status on {}: {}",
        bed.nodes[i].id.name,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status json")
}

/// The harness itself: every certificate verifies against the cluster's
/// CA and none against another; etcd really wants a client certificate
/// (etcdctl without one is refused) and speaks only TLS on its client port.
fn assert_the_cluster_is_tls_only(etcd: &EtcdCluster, other: &Ca) {
    let pki = etcd.tls.as_ref().expect("a TLS cluster");
    for m in &etcd.members {
        let cert = &m.cert.as_ref().expect("a member certificate").cert;
        assert!(
            tls::verifies(pki.ca.cert(), cert),
            "{}'s certificate",
            m.name
        );
        assert!(
            !tls::verifies(other.cert(), cert),
            "{} under {}",
            m.name,
            other.name
        );
        assert!(m.client_url().starts_with("https://"), "{}", m.client_url());
    }
    let health = etcd.health(&etcd.endpoints_arg());
    assert_eq!(
        health,
        Ok(()),
        "etcdctl with the CA and a client certificate"
    );
    // Clients without the cluster's credentials (from etcd-0's namespace,
    // as the harness's etcdctl runs).
    let ns = &etcd.members[0].ns;
    let https = format!("--endpoints={}", etcd.endpoints_arg());
    let ca = format!("--cacert={}", pki.ca.cert().display());
    let refused = |what: &str, args: &[&str]| {
        let mut all = vec!["--dial-timeout=1s", "--command-timeout=2s"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["get", "x"]);
        let out = etcd.etcdctl_bare_in(ns, &all).expect("etcdctl");
        assert!(
            !out.status.success(),
            "etcd served a client {what}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    };
    refused("without a certificate", &[&https, &ca]);
    let foreign = other
        .client("stranger")
        .expect("a foreign client certificate");
    let (cert, key) = (
        format!("--cert={}", foreign.cert.display()),
        format!("--key={}", foreign.key.display()),
    );
    refused("with another CA's certificate", &[&https, &ca, &cert, &key]);
    let plain: Vec<String> = etcd
        .endpoints()
        .iter()
        .map(|e| e.replace("https://", "http://"))
        .collect();
    refused(
        "over plain http",
        &[&format!("--endpoints={}", plain.join(","))],
    );
    // What etcd says of each (`rejected connection`), on every member.
    for why in [
        "tls: client didn't provide a certificate",
        "certificate signed by unknown authority",
        "first record does not look like a TLS handshake",
    ] {
        assert!(
            testbed::wait_until(Duration::from_secs(2), || etcd.members.iter().all(|m| {
                std::fs::read_to_string(&m.log)
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.contains("rejected connection") && l.contains(why))
            })),
            "every member's log rejects a connection with {why:?}\n{}",
            etcd.logs_tail(10)
        );
    }
    println!("etcd tls: etcd refused etcdctl without a client certificate, with another CA's and over plain http");
}

/// (a) Over TLS, node-a holds; etcdctl (with the CA and a client
/// certificate) shows its election key first under the prefix, with its
/// record; every node's `vipd status --json` names it, with its key's
/// create revision as term, and no etcd problem.
#[test]
fn over_tls_a_node_holds_and_etcdctl_and_every_status_name_it() {
    require_root!();
    let _serial = testbed::serial();
    let eb = scenario::retry_setup("etcd tls holds", || {
        let mut eb = setup()?;
        eb.bed.start_stream()?;
        eb.bed.settle(SETUP)?;
        Ok(eb)
    });
    let other = Ca::new(&eb.bed.dir().join("other-ca"), "other").expect("a second CA");
    assert_the_cluster_is_tls_only(&eb.etcd, &other);
    assert_eq!(eb.bed.holders(), vec![A], "node-a holds");
    // Each node's client key in the form `setup` says.
    for (i, header) in [
        (A, "-----BEGIN EC PRIVATE KEY-----"),
        (B, "-----BEGIN PRIVATE KEY-----"),
        (C, "-----BEGIN RSA PRIVATE KEY-----"),
    ] {
        let config = std::fs::read_to_string(&eb.bed.nodes[i].config).unwrap();
        let key = config
            .lines()
            .find_map(|l| l.strip_prefix("key_file = "))
            .map(|q| q.trim_matches('"').to_owned())
            .expect("key_file");
        let pem = std::fs::read_to_string(&key).unwrap();
        assert!(pem.starts_with(header), "{key}: {pem:.40}");
    }

    let election = eb.etcd.election_keys().expect("etcdctl get over TLS");
    let keys: Vec<&str> = election.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(
        keys,
        ["node-a", "node-b", "node-c"].map(|n| format!("{ELECTION}{n}")),
        "every node's election key, node-a's the oldest"
    );
    let first = &election[0];
    assert_ne!(first.lease, 0, "on a lease");
    let (record, create_revision) = (&first.record, first.create_revision);
    assert_eq!(record["node"], "node-a");
    assert_eq!(record["address"], "192.0.2.11");
    assert_eq!(record["hwaddr"], eb.bed.nodes[A].id.mac.as_str());
    println!(
        "etcd tls: etcdctl over https shows {keys:?}, node-a's key at revision {create_revision}"
    );

    for i in [A, B, C] {
        let s = status_json(&eb.bed, i);
        let name = &eb.bed.nodes[i].id.name;
        assert_eq!(s["vipHost"], "node-a", "{name}: {s}");
        assert_eq!(s["protocol"], "etcd", "{name}");
        assert_eq!(s["term"].as_u64(), Some(create_revision), "{name}: {s}");
        assert_eq!(s["etcd"]["line"][0], "node-a", "{name}: {s}");
        assert!(s["etcd"]["problem"].is_null(), "{name}: {s}");
    }
    for i in [A, B, C] {
        let log = eb.bed.log(i);
        assert!(
            log.contains("https://192.0.2.31:2379"),
            "{} started with the https endpoints",
            eb.bed.nodes[i].id.name
        );
        let failed: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("etcd: ") && l.contains(" failed"))
            .collect();
        assert!(
            failed.is_empty(),
            "{}: etcd requests failed over TLS:\n{}",
            eb.bed.nodes[i].id.name,
            failed.join("\n")
        );
    }
}

/// (b) SIGTERM on the holder over TLS: it releases, revokes its lease (its
/// key goes with it), node-b's key is the oldest and node-b holds within
/// a second.
#[test]
fn over_tls_a_clean_stop_hands_over_within_a_second() {
    require_root!();
    let _serial = testbed::serial();
    let (mut eb, m) = scenario::retry_setup("etcd tls sigterm", || {
        let mut eb = setup()?;
        let m = scenario::measure_fault(&mut eb.bed, scenario::WINDOW, |b, h| {
            let t = testbed::wall_now();
            b.signal(h, Signal::TERM);
            Ok(t)
        })?;
        Ok((eb, m))
    });
    assert_eq!(m.old_holder, A, "node-a's key is the oldest");
    assert_eq!(
        eb.bed
            .wait_exit(A, Duration::from_secs(5))
            .map(|s| s.code()),
        Some(Some(0)),
        "node-a exits 0"
    );
    eb.bed.nodes[A].off = true;
    assert_failover(
        &eb.bed,
        "etcd tls sigterm_hands_over",
        &m,
        Expect::node(B, Duration::from_secs(1)),
    );
    if let Some(acquired) = eb.bed.log_time(B, "VIP acquired", m.fault_at) {
        println!(
            "etcd tls sigterm: node-b acquired {:.1} ms after the SIGTERM",
            (acquired - m.fault_at) * 1000.0
        );
    }
    assert_eq!(
        eb.etcd.line(),
        ["node-b", "node-c"],
        "node-a's key was revoked"
    );
}

/// node-a, whose `[etcd]` `misconfigure` rewrites, started first: it
/// would hold if it could use etcd. It puts no election key, never holds,
/// keeps running, and logs failed etcd requests (`etcd: WHAT failed`, with
/// the error). With `explains`, its first such line and its status's
/// `etcd.problem` say why, in words `explains` accepts. node-b and node-c,
/// started after it, work: node-b holds. Returns the testbed, node-a still
/// running, for more checks.
fn a_misconfigured_node_never_holds(
    what: &str,
    misconfigure: impl Fn(&EtcdBed) -> Result<(), String>,
    explains: Option<&dyn Fn(&str) -> bool>,
) -> EtcdBed {
    let mut eb = scenario::retry_setup(what, || {
        let eb = tls_bed()?;
        misconfigure(&eb)?;
        Ok(eb)
    });
    let start = testbed::wall_now();
    eb.bed.start(A).expect("start node-a");
    // What vipd logs for a failed request: `etcd: WHAT failed` with the
    // error (tracing's `error=` field).
    let why = |bed: &Testbed| -> Option<String> {
        bed.log(A)
            .lines()
            .find(|l| l.contains("etcd: ") && l.contains(" failed"))
            .map(str::to_owned)
    };
    assert!(
        testbed::wait_until(SETUP, || why(&eb.bed).is_some()),
        "{what}: node-a logged no failed etcd request\n{}",
        eb.bed.logs_tail(30)
    );
    let said = why(&eb.bed).unwrap_or_default();
    println!("{what}: node-a says: {said}");
    // Long enough to have held, had it reached etcd: two lease TTLs.
    std::thread::sleep(Duration::from_secs(u64::from(TTL_S) * 2));
    assert!(
        eb.etcd.line().is_empty(),
        "{what}: node-a put an election key"
    );
    assert!(
        eb.bed.running(A),
        "{what}: node-a keeps running (and trying)"
    );
    assert!(!eb.bed.has_vip(A), "{what}: node-a holds without etcd");

    eb.start_in_line(&[B, C])
        .expect("node-b and node-c over TLS");
    eb.bed.start_stream().expect("stream");
    let holder = eb.bed.settle(SETUP).expect("a holder");
    assert_eq!(holder, B, "{what}: node-b holds");
    std::thread::sleep(Duration::from_secs(u64::from(TTL_S)));
    assert_eq!(
        eb.etcd.line(),
        ["node-b", "node-c"],
        "{what}: no key of node-a's"
    );
    assert_eq!(eb.bed.holders(), vec![B], "{what}: node-a never holds");
    assert_eq!(
        eb.bed.log_time(A, "VIP acquired", start),
        None,
        "{what}: node-a never acquired\n{}",
        eb.bed.logs_tail(20)
    );
    for i in [B, C] {
        let s = status_json(&eb.bed, i);
        assert_eq!(s["vipHost"], "node-b", "{}: {s}", eb.bed.nodes[i].id.name);
        assert!(
            s["etcd"]["problem"].is_null(),
            "{}: {s}",
            eb.bed.nodes[i].id.name
        );
    }
    let s = status_json(&eb.bed, A);
    println!(
        "{what}: node-a's status: vipHost {}, etcd {}",
        s["vipHost"], s["etcd"]
    );
    assert_ne!(s["vipHost"], "node-a", "{s}");
    let problem = s["etcd"]["problem"].as_str().unwrap_or("").to_owned();
    assert!(
        !problem.is_empty(),
        "{what}: node-a's status names no problem: {s}"
    );
    if let Some(explains) = explains {
        assert!(
            explains(&said),
            "{what}: node-a's log does not say why: {said}"
        );
        assert!(
            explains(&problem),
            "{what}: node-a's status does not say why: {s}"
        );
    }
    eb
}

/// (c) node-a's `ca_file` names a second, unrelated CA (its client
/// certificate is the cluster's): it cannot verify etcd's certificates,
/// never holds, and says so (rustls: "invalid peer certificate:
/// UnknownIssuer"); the others work.
#[test]
fn over_tls_a_node_trusting_the_wrong_ca_never_holds_and_says_why() {
    require_root!();
    let _serial = testbed::serial();
    a_misconfigured_node_never_holds(
        "etcd tls wrong CA",
        |eb| {
            let other = Ca::new(&eb.bed.dir().join("other-ca"), "other")?;
            let own = eb.etcd.tls.as_ref().ok_or("no TLS")?.client("node-a")?;
            etcd::set_etcd_tls(
                &eb.bed.nodes[A].config,
                &eb.etcd.endpoints(),
                other.cert(),
                Some(&own),
            )
        },
        Some(&|text: &str| {
            let t = text.to_ascii_lowercase();
            t.contains("invalid peer certificate") && t.contains("unknownissuer")
        }),
    );
}

/// (e) node-a trusts the right CA but has no client certificate
/// (`cert_file`, `key_file` left out), and etcd asks for one
/// (`--client-cert-auth`): every member refuses it ("tls: client didn't
/// provide a certificate", in etcd's log), node-a never holds; the others
/// work. (What node-a itself logs depends on a race: TLS 1.3 lets the
/// client finish its handshake before the server checks its certificate,
/// so the refusal comes as an alert on the first read, "received fatal
/// alert: BadCertificate", or as the connection closed under a write,
/// "broken pipe", "operation was canceled"; both are counted and printed.)
#[test]
fn over_tls_a_node_without_a_client_certificate_never_holds() {
    require_root!();
    let _serial = testbed::serial();
    let what = "etcd tls no client certificate";
    let eb = a_misconfigured_node_never_holds(
        what,
        |eb| {
            let pki = eb.etcd.tls.as_ref().ok_or("no TLS")?;
            etcd::set_etcd_tls(
                &eb.bed.nodes[A].config,
                &eb.etcd.endpoints(),
                pki.ca.cert(),
                None,
            )
        },
        None,
    );
    let from_a = format!("\"remote-addr\":\"{}:", eb.bed.nodes[A].id.addr);
    for m in &eb.etcd.members {
        let log = std::fs::read_to_string(&m.log).unwrap_or_default();
        let refusals = log
            .lines()
            .filter(|l| {
                l.contains("rejected connection")
                    && l.contains(&from_a)
                    && l.contains("tls: client didn't provide a certificate")
            })
            .count();
        assert!(
            refusals > 0,
            "{what}: {} never refused node-a for its missing certificate\n{}",
            m.name,
            eb.etcd.logs_tail(10)
        );
    }
    let log = eb.bed.log(A);
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("etcd: ") && l.contains(" failed"))
        .collect();
    let alerts = failed
        .iter()
        .filter(|l| l.contains("BadCertificate") || l.contains("CertificateRequired"))
        .count();
    println!(
        "{what}: node-a logged {} failed etcd requests, {alerts} of them naming etcd's certificate alert",
        failed.len()
    );
}

/// (d) `vipd check` accepts the TLS config (and prints its TLS files), and
/// refuses one whose `ca_file` does not exist, naming `etcd.ca_file`, with
/// exit code 2. No etcd runs: `check` reads files, it does not connect.
#[test]
fn check_accepts_the_tls_config_and_refuses_a_missing_ca_file() {
    require_root!();
    let _serial = testbed::serial();
    let peers = [Peer::Etcd {
        priority: 100,
        ttl_s: TTL_S,
    }; 3];
    let bed = Testbed::new(vipd(), &peers, 10).expect("testbed");
    let ca = Ca::new(&bed.dir().join("etcd-tls"), "etcd").expect("CA");
    let own = ca.client("node-a").expect("client certificate");
    let endpoints: Vec<String> = (0..etcd::MEMBERS)
        .map(|i| format!("https://{}:{}", etcd::member_addr(i), etcd::CLIENT_PORT))
        .collect();
    let config = &bed.nodes[A].config;
    etcd::set_etcd_tls(config, &endpoints, ca.cert(), Some(&own)).expect("rewrite");
    let text = std::fs::read_to_string(config).unwrap();
    assert!(!text.contains("allow_insecure"), "{text}");

    let out = bed.vipd_cmd(A, &["check"]).expect("vipd check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "vipd check refused the TLS config:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        ca.cert().to_str().unwrap(),
        own.cert.to_str().unwrap(),
        own.key.to_str().unwrap(),
        "https://192.0.2.31:2379",
    ] {
        assert!(
            stdout.contains(want),
            "the effective config names {want}:\n{stdout}"
        );
    }

    // The same config with a ca_file that does not exist.
    let missing = bed.dir().join("etcd-tls/no-such-ca.crt");
    let bad = bed.dir().join("node-a-missing-ca.conf");
    std::fs::write(&bad, &text).unwrap();
    etcd::set_etcd_tls(&bad, &endpoints, &missing, Some(&own)).expect("rewrite");
    let out = netns::exec_in(&bed.nodes[A].ns)
        .arg(vipd())
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .expect("vipd check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("etcd tls check, missing ca_file: {}", stderr.trim());
    assert_eq!(out.status.code(), Some(2), "exit code 2: {stderr}");
    assert!(
        stderr.contains("etcd.ca_file"),
        "names etcd.ca_file: {stderr}"
    );
    assert!(
        stderr.contains(missing.to_str().unwrap()),
        "names the file: {stderr}"
    );
    assert!(out.stdout.is_empty(), "no effective config printed");
}
