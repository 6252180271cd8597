//! `[etcd]` and `protocol = "etcd"`: every rule, each message naming its key.

use std::path::Path;

use super::*;
use crate::config::{parse, validate, AgentConfig};

/// A two-member etcd config ending in `[election]`, so lines appended
/// land there.
const ETCD: &str = r#"
cluster = "mgmt"
node = "node-a"
interface = "eth0"
[[member]]
name = "node-a"
address = "192.0.2.11"
[[member]]
name = "node-b"
address = "192.0.2.12"
[vip]
address = "192.0.2.100"
[election]
protocol = "etcd"
"#;

fn checked(text: &str) -> Result<AgentConfig, Vec<Problem>> {
    let raw = parse(text).map_err(|p| vec![p])?;
    validate(Path::new("/etc/vipd/vipd.toml"), raw, || None)
}

/// `ETCD` with `[etcd]` holding `lines`.
fn with_etcd(lines: &str) -> Result<AgentConfig, Vec<Problem>> {
    checked(&format!("{ETCD}[etcd]\n{lines}\n"))
}

fn keys(p: &[Problem]) -> Vec<&str> {
    p.iter().map(|p| p.key.as_str()).collect()
}

#[test]
fn an_etcd_config_reads_with_its_defaults() {
    let c = with_etcd("endpoints = [\"http://127.0.0.1:2379\"]").unwrap();
    let e = c.etcd.expect("etcd settings");
    assert_eq!(e.prefix, "/vipd/mgmt/");
    assert_eq!(e.tls, None);
    let vip_core::ElectionSettings::Etcd(s) = c.settings.election else {
        panic!("etcd");
    };
    assert_eq!(s, vip_core::EtcdSettings::with_defaults(100));
    let c = checked(&format!(
        "{ETCD}priority = 150\nmax_drift = 200\nfence_margin = \"2ms\"\n[etcd]\n\
         endpoints = [\"http://192.0.2.31:2379\", \"http://192.0.2.32:2379\"]\n\
         allow_insecure = true\nlease_ttl = \"5s\"\nprefix = \"/x/\"\n"
    ))
    .unwrap();
    let vip_core::ElectionSettings::Etcd(s) = c.settings.election else {
        panic!("etcd");
    };
    assert_eq!(
        (s.priority, s.max_drift_ppm, s.fence_margin, s.lease_ttl),
        (
            150,
            200,
            vip_core::Duration::from_millis(2),
            vip_core::Duration::from_secs(5)
        )
    );
    assert_eq!(c.etcd.unwrap().prefix, "/x/");
}

#[test]
fn plain_http_to_another_host_needs_allow_insecure() {
    let p = with_etcd("endpoints = [\"http://192.0.2.31:2379\"]").unwrap_err();
    assert_eq!(keys(&p), ["etcd.endpoints[1]"]);
    assert!(p[0].rule.contains("allow_insecure = true"), "{}", p[0].rule);
    let p = with_etcd("endpoints = [\"https://192.0.2.31:2379\", \"http://127.0.0.1:2379\"]")
        .unwrap_err();
    assert!(keys(&p).contains(&"etcd.endpoints"), "{p:?}");
    assert!(keys(&p).contains(&"etcd.ca_file"), "{p:?}");
}

#[test]
fn tls_files_must_be_readable_and_paired() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, "-----BEGIN EC PRIVATE KEY-----\nMHc\n").unwrap();
    let ok = with_etcd(&format!(
        "endpoints = [\"https://192.0.2.31:2379\"]\nca_file = \"{}\"",
        ca.display()
    ))
    .unwrap();
    assert_eq!(ok.etcd.unwrap().tls.unwrap().ca_file, ca);
    let p = with_etcd(&format!(
        "endpoints = [\"https://192.0.2.31:2379\"]\nca_file = \"{}\"\ncert_file = \"{}\"",
        ca.display(),
        ca.display()
    ))
    .unwrap_err();
    assert_eq!(keys(&p), ["etcd.key_file"]);
    let both = with_etcd(&format!(
        "endpoints = [\"https://192.0.2.31:2379\"]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"",
        ca.display(),
        ca.display(),
        key.display()
    ))
    .unwrap();
    assert_eq!(
        both.etcd.unwrap().tls.unwrap().identity,
        Some((ca.clone(), key.clone()))
    );
    // A key where the CA goes, and the CA where the key goes: refused now.
    let p = with_etcd(&format!(
        "endpoints = [\"https://192.0.2.31:2379\"]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"",
        key.display(),
        ca.display(),
        ca.display()
    ))
    .unwrap_err();
    assert_eq!(keys(&p), ["etcd.ca_file", "etcd.key_file"]);
    assert!(p[0].rule.contains("CERTIFICATE block"), "{}", p[0].rule);
    let p =
        with_etcd("endpoints = [\"https://192.0.2.31:2379\"]\nca_file = \"/nonexistent/ca.pem\"")
            .unwrap_err();
    assert_eq!(keys(&p), ["etcd.ca_file"]);
    assert!(
        p[0].rule.contains("/nonexistent/ca.pem cannot be read"),
        "{}",
        p[0].rule
    );
    let p = with_etcd("endpoints = [\"http://127.0.0.1:2379\"]\nca_file = \"/x\"").unwrap_err();
    assert_eq!(keys(&p), ["etcd.ca_file"]);
    assert!(p[0].rule.contains("only to https"), "{}", p[0].rule);
}

#[test]
fn the_lease_ttl_is_whole_seconds_from_two() {
    for (ttl, says) in [("1s", "at least 2s"), ("2500ms", "whole seconds")] {
        let p = with_etcd(&format!(
            "endpoints = [\"http://127.0.0.1:2379\"]\nlease_ttl = \"{ttl}\""
        ))
        .unwrap_err();
        assert_eq!(keys(&p), ["etcd.lease_ttl"], "{ttl}");
        assert!(p[0].rule.contains(says), "{ttl}: {}", p[0].rule);
    }
}

#[test]
fn keys_of_other_protocols_and_etcd_elsewhere_are_refused() {
    let p = checked(&format!(
        "{ETCD}advert_interval = \"10ms\"\nvrid = 3\n[etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\n"
    ))
    .unwrap_err();
    assert_eq!(keys(&p), ["election.advert_interval", "election.vrid"]);
    let vrrp = ETCD.replace("protocol = \"etcd\"", "protocol = \"vrrp\"");
    let p = checked(&format!(
        "{vrrp}[etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\n"
    ))
    .unwrap_err();
    assert_eq!(keys(&p), ["etcd"]);
    let p = with_etcd("endpoints = [\"http://127.0.0.1:2379\"]\nprefix = \"vipd\"").unwrap_err();
    assert_eq!(keys(&p), ["etcd.prefix"]);
}

#[test]
fn a_witness_is_refused_under_etcd() {
    let text = format!(
        "{ETCD}[etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\n\
         [[member]]\nname = \"w\"\naddress = \"192.0.2.13\"\nwitness = true\n"
    );
    let p = checked(&text).unwrap_err();
    assert_eq!(keys(&p), ["member[3].witness"]);
}

#[test]
fn endpoints_are_urls_with_a_port() {
    assert!(endpoint("https://192.0.2.31:2379").is_ok_and(|e| e.tls && !e.loopback));
    assert!(endpoint("http://127.0.0.1:2379").is_ok_and(|e| !e.tls && e.loopback));
    assert!(endpoint("http://localhost:2379/").is_ok_and(|e| e.loopback));
    assert!(endpoint("https://[::1]:2379").is_ok_and(|e| e.loopback));
    assert!(endpoint("https://etcd-0.example:2379").is_ok());
    for bad in [
        "192.0.2.31:2379",
        "https://192.0.2.31",
        "https://192.0.2.31:0",
        "https://:2379",
        "ftp://192.0.2.31:2379",
        "https://user@192.0.2.31:2379",
        "https://192.0.2.31:99999",
    ] {
        assert!(endpoint(bad).is_err(), "{bad}");
    }
}
