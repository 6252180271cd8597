//! The config file as written: TOML read by serde, every key checked for
//! spelling (`deny_unknown_fields`) but not yet for meaning.
//!
//! Numbers are read as `i64` and durations, enumerations and addresses as
//! strings, so that a bad value is refused by [`super::validate`] with a
//! message in the operator's words rather than serde's. A key left out is
//! `None` here; its default comes from vip-core (`VrrpSettings::default()`,
//! `AnnounceConfig::default()`) or, for the daemon's own sections, from
//! [`super::validate`], never from a second copy in this file.

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub cluster: String,
    pub node: Option<String>,
    pub interface: String,
    pub vip: RawVip,
    #[serde(default)]
    pub election: RawElection,
    #[serde(default)]
    pub announce: RawAnnounce,
    #[serde(default)]
    pub status: RawStatus,
    #[serde(default)]
    pub hooks: RawHooks,
    pub health: Option<RawHealth>,
    pub etcd: Option<RawEtcd>,
    #[serde(default, rename = "member")]
    pub members: Vec<RawMember>,
}

/// `[vip]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVip {
    pub mode: Option<String>,
    pub address: Option<String>,
    pub hwaddr: Option<String>,
}

/// `[election]`; every key may be left out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawElection {
    pub protocol: Option<String>,
    pub priority: Option<i64>,
    pub advert_interval: Option<String>,
    pub vrid: Option<i64>,
    pub preempt: Option<bool>,
    pub preempt_delay: Option<String>,
    pub checksum: Option<String>,
    pub virtual_mac: Option<bool>,
    pub lease: Option<String>,
    pub max_drift: Option<i64>,
    pub fence_margin: Option<String>,
    pub reannounce_after: Option<String>,
    pub ethertype: Option<i64>,
    pub group_mac: Option<String>,
    pub key_file: Option<String>,
}

/// `[announce]`; every key may be left out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAnnounce {
    pub garp_count: Option<i64>,
    pub garp_interval: Option<String>,
    pub refresh_interval: Option<String>,
    pub form: Option<String>,
    pub answer_arp: Option<bool>,
}

/// `[status]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStatus {
    pub socket: String,
    pub http: Option<String>,
}

/// Where the status socket lives unless the config says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/vipd/vipd.sock";

impl Default for RawStatus {
    fn default() -> Self {
        RawStatus {
            socket: DEFAULT_SOCKET.into(),
            http: None,
        }
    }
}

/// `[hooks]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHooks {
    pub on_acquire: Option<String>,
    pub on_release: Option<String>,
    pub timeout: String,
}

impl Default for RawHooks {
    fn default() -> Self {
        RawHooks {
            on_acquire: None,
            on_release: None,
            timeout: "10s".into(),
        }
    }
}

/// `[health]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub command: String,
    #[serde(default = "default_health_interval")]
    pub interval: String,
    pub timeout: Option<String>,
}

fn default_health_interval() -> String {
    "1s".into()
}

/// One `[[member]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMember {
    pub name: String,
    pub address: String,
    pub witness: Option<bool>,
}

/// `[etcd]` (`protocol = "etcd"`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawEtcd {
    pub endpoints: Option<Vec<String>>,
    pub lease_ttl: Option<String>,
    pub prefix: Option<String>,
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub allow_insecure: Option<bool>,
}
