//! `[etcd]`: how the daemon reaches the cluster's etcd (`protocol =
//! "etcd"`). The election's own settings (`lease_ttl`, drift, fence margin)
//! are the core's [`vip_core::EtcdSettings`]; what is read here is the
//! transport: endpoints, TLS files and the key prefix.

use std::net::IpAddr;
use std::path::PathBuf;

use super::raw::RawEtcd;
use super::Problem;

/// The daemon's side of `[etcd]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdClientSettings {
    /// The endpoints, as URLs (`https://192.0.2.31:2379`), all of one scheme.
    pub endpoints: Vec<String>,
    /// Where the election's keys live: starts and ends with `/`.
    pub prefix: String,
    /// TLS, when the endpoints are `https`.
    pub tls: Option<TlsFiles>,
    /// Plain http to other hosts was allowed (`allow_insecure`).
    pub allow_insecure: bool,
}

/// The TLS files `[etcd]` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA that signed etcd's server certificates (PEM).
    pub ca_file: PathBuf,
    /// This node's client certificate and key (PEM), when etcd asks for one.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// The default prefix: `/vipd/<cluster>/`.
pub fn default_prefix(cluster: &str) -> String {
    format!("/vipd/{cluster}/")
}

/// An endpoint as read: its scheme is TLS, its host is loopback.
struct Endpoint {
    tls: bool,
    loopback: bool,
}

/// Reads `http(s)://HOST:PORT`; `Err` says what is wrong.
fn endpoint(text: &str) -> Result<Endpoint, &'static str> {
    const SHAPE: &str =
        "must be http://HOST:PORT or https://HOST:PORT, such as https://192.0.2.31:2379";
    let (tls, rest) = if let Some(rest) = text.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = text.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(SHAPE);
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.strip_prefix('[') {
        // [IPv6]:port
        Some(v6) => {
            let (host, port) = v6.split_once("]:").ok_or(SHAPE)?;
            (host, port)
        }
        None => rest.rsplit_once(':').ok_or(SHAPE)?,
    };
    if host.is_empty()
        || host.contains(['/', '@', '?', '#'])
        || host.contains(char::is_whitespace)
        || port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(SHAPE);
    }
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback());
    Ok(Endpoint { tls, loopback })
}

/// A PEM file named by `key` that must be readable and hold a block whose
/// label ends in `label` (`CERTIFICATE`, `PRIVATE KEY`): a file of another
/// kind is refused here, not at the first TLS handshake.
fn pem(problems: &mut Vec<Problem>, key: &str, path: &str, label: &str) -> PathBuf {
    match std::fs::read(path) {
        Err(e) => problems.push(Problem::new(key, format!("{path} cannot be read: {e}"))),
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let holds = text.lines().any(|l| {
                l.strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                    .is_some_and(|l| l.ends_with(label))
            });
            if !holds {
                problems.push(Problem::new(
                    key,
                    format!("{path} must be PEM with a {label} block (-----BEGIN ...{label}-----)"),
                ));
            }
        }
    }
    PathBuf::from(path)
}

/// Checks `[etcd]` for `protocol = "etcd"`; every problem goes to `problems`.
pub(super) fn read(
    problems: &mut Vec<Problem>,
    raw: Option<&RawEtcd>,
    cluster: &str,
) -> Option<EtcdClientSettings> {
    let fail = |problems: &mut Vec<Problem>, key: &str, rule: String| {
        problems.push(Problem::new(key, rule));
    };
    let empty = RawEtcd::default();
    let e = raw.unwrap_or(&empty);
    let Some(endpoints) = e.endpoints.as_ref().filter(|l| !l.is_empty()) else {
        fail(
            problems,
            "etcd.endpoints",
            "is required for protocol = \"etcd\": the cluster's etcd client URLs, such as [\"https://192.0.2.31:2379\", \"https://192.0.2.32:2379\", \"https://192.0.2.33:2379\"]".into(),
        );
        return None;
    };
    let before = problems.len();
    let insecure_ok = e.allow_insecure.unwrap_or(false);
    let mut schemes = Vec::new();
    for (i, text) in endpoints.iter().enumerate() {
        let key = format!("etcd.endpoints[{}]", i + 1);
        match endpoint(text) {
            Err(shape) => fail(problems, &key, format!("{shape}, not {text:?}")),
            Ok(ep) => {
                schemes.push(ep.tls);
                if !ep.tls && !ep.loopback && !insecure_ok {
                    fail(
                        problems,
                        &key,
                        format!("{text} is plain http to another host: anyone on the path could read and forge the election; use https with etcd.ca_file, or set etcd.allow_insecure = true for a trusted network"),
                    );
                }
            }
        }
    }
    let tls = schemes.first().copied().unwrap_or(false);
    if schemes.iter().any(|&s| s != tls) {
        fail(
            problems,
            "etcd.endpoints",
            "must all be https or all be http, not a mix".into(),
        );
    }
    let tls_files = if tls {
        let ca_file = match &e.ca_file {
            Some(path) => Some(pem(problems, "etcd.ca_file", path, "CERTIFICATE")),
            None => {
                fail(
                    problems,
                    "etcd.ca_file",
                    "is required with https endpoints: the PEM file of the CA that signed etcd's server certificates (RKE2: /var/lib/rancher/rke2/server/tls/etcd/server-ca.crt)".into(),
                );
                None
            }
        };
        let identity = match (&e.cert_file, &e.key_file) {
            (Some(cert), Some(key)) => Some((
                pem(problems, "etcd.cert_file", cert, "CERTIFICATE"),
                pem(problems, "etcd.key_file", key, "PRIVATE KEY"),
            )),
            (None, None) => None,
            (Some(_), None) => {
                fail(
                    problems,
                    "etcd.key_file",
                    "is required with etcd.cert_file (the client certificate's private key)".into(),
                );
                None
            }
            (None, Some(_)) => {
                fail(
                    problems,
                    "etcd.cert_file",
                    "is required with etcd.key_file (the client certificate)".into(),
                );
                None
            }
        };
        ca_file.map(|ca_file| TlsFiles { ca_file, identity })
    } else {
        for (key, set) in [
            ("ca_file", e.ca_file.is_some()),
            ("cert_file", e.cert_file.is_some()),
            ("key_file", e.key_file.is_some()),
        ] {
            if set {
                fail(
                    problems,
                    &format!("etcd.{key}"),
                    "applies only to https endpoints; remove it, or use https".into(),
                );
            }
        }
        None
    };
    let prefix = e.prefix.clone().unwrap_or_else(|| default_prefix(cluster));
    if !prefix.starts_with('/') || !prefix.ends_with('/') || prefix.len() < 2 {
        fail(
            problems,
            "etcd.prefix",
            format!("must start and end with '/', such as \"/vipd/{cluster}/\", not {prefix:?}"),
        );
    } else if prefix.contains(char::is_control) {
        fail(
            problems,
            "etcd.prefix",
            format!("must not hold control characters, not {prefix:?}"),
        );
    }
    (problems.len() == before).then(|| EtcdClientSettings {
        endpoints: endpoints.clone(),
        prefix,
        tls: tls_files,
        allow_insecure: insecure_ok,
    })
}

#[cfg(test)]
#[path = "etcd_tests.rs"]
mod tests;
