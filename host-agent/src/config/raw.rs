//! The config file as written: TOML read by serde, every key checked for
//! spelling (`deny_unknown_fields`) but not yet for meaning.
//!
//! Numbers are read as `i64` and durations, enumerations and addresses as
//! strings, so that a bad value is refused by [`super::validate`] with a
//! message in the operator's words rather than serde's.

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
    #[serde(default, rename = "member")]
    pub members: Vec<RawMember>,
}

/// `[vip]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVip {
    pub address: String,
}

/// `[election]`; every key has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawElection {
    pub protocol: String,
    pub priority: i64,
    pub advert_interval: String,
    pub vrid: i64,
    pub preempt: bool,
    pub preempt_delay: String,
    pub checksum: String,
    pub virtual_mac: bool,
}

impl Default for RawElection {
    fn default() -> Self {
        RawElection {
            protocol: "vrrp".into(),
            priority: 100,
            advert_interval: "1s".into(),
            vrid: 51,
            preempt: true,
            preempt_delay: "0s".into(),
            checksum: "auto".into(),
            virtual_mac: false,
        }
    }
}

/// `[announce]`; every key has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAnnounce {
    pub garp_count: i64,
    pub garp_interval: String,
    pub refresh_interval: String,
    pub form: String,
    pub answer_arp: bool,
}

impl Default for RawAnnounce {
    fn default() -> Self {
        RawAnnounce {
            garp_count: 3,
            garp_interval: "100ms".into(),
            refresh_interval: "0s".into(),
            form: "both".into(),
            answer_arp: true,
        }
    }
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
}
