//! The agent's configuration: read the TOML file, check it, and combine it
//! with the interface's facts into a core [`vip_core::Config`].
//!
//! Three steps, each with errors that name the file and the key:
//! 1. [`parse`] (read.rs): TOML syntax and key spelling
//!    (`deny_unknown_fields`), value types. Stops at the first problem
//!    (serde cannot go on past one).
//! 2. [`validate`] (validate.rs): every value's meaning, through vip-core's
//!    [`ClusterSettings::check`] for the cluster's settings. Reports every
//!    problem found.
//! 3. [`resolve`]: the facts read from the interface (its MAC and addresses)
//!    plus the rest of the core's rules, through `vip_core::Config::new`.
//!
//! [`load`] runs the first two. A failure prints as one line per problem,
//! `FILE: KEY: RULE`.

pub mod effective;
pub mod etcd;
mod raw;
mod read;
mod resolve;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use vip_core::{ClusterSettings, Duration, Members, Name, VipSettings, VrrpSettings};

pub use raw::{RawConfig, DEFAULT_SOCKET};
pub use read::parse;
pub use resolve::{resolve, InterfaceFacts, Resolved};
pub use validate::validate;

/// One broken rule: the key it concerns and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The TOML key path, e.g. `election.priority`, `member[2].address`.
    pub key: String,
    /// The rule, in words.
    pub rule: String,
}

impl Problem {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, rule: impl Into<String>) -> Problem {
        Problem {
            key: key.into(),
            rule: rule.into(),
        }
    }
}

/// A config that cannot be used: the file and every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFailure {
    /// The file as the operator named it.
    pub file: PathBuf,
    /// At least one problem.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigFailure {
    /// One line per problem: `FILE: KEY: RULE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}: {}", self.file.display(), p.key, p.rule)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigFailure {}

pub use vip_core::Protocol;

/// `[status]`: where status is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSettings {
    /// The Unix socket's path.
    pub socket: PathBuf,
    /// The HTTP listener for `/status` and `/metrics`, if any.
    pub http: Option<SocketAddr>,
}

/// `[hooks]`: commands run on acquire and release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSettings {
    /// Run (by `/bin/sh -c`) after the VIP was added.
    pub on_acquire: Option<String>,
    /// Run (by `/bin/sh -c`) after the VIP was removed.
    pub on_release: Option<String>,
    /// Longest a hook may run before it is killed.
    pub timeout: Duration,
}

/// `[health]`: a check command run periodically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSettings {
    /// Run by `/bin/sh -c`; exit status 0 means healthy.
    pub command: String,
    /// Time between the starts of two checks.
    pub interval: Duration,
    /// Longest a check may run; a check that takes longer fails.
    pub timeout: Duration,
}

/// A checked config file, still without the interface's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// The file it came from, for messages.
    pub file: PathBuf,
    /// This node's name (default: the host name).
    pub node: Name,
    /// The management interface.
    pub interface: String,
    /// The cluster's settings, as vip-core takes them.
    pub settings: ClusterSettings,
    /// Where the quorum election's key was read from.
    pub key_file: Option<PathBuf>,
    /// Status endpoints.
    pub status: StatusSettings,
    /// Hooks.
    pub hooks: HookSettings,
    /// Health check.
    pub health: Option<HealthSettings>,
    /// How to reach the cluster's etcd (`protocol = "etcd"` only).
    pub etcd: Option<etcd::EtcdClientSettings>,
}

impl AgentConfig {
    /// The cluster's name.
    pub fn cluster(&self) -> &str {
        &self.settings.cluster
    }

    /// The fixed VIP (`None` for a VIP leased by DHCP).
    pub fn vip(&self) -> Option<Ipv4Addr> {
        match self.settings.vip {
            VipSettings::Static(address) => Some(address),
            VipSettings::Dhcp(_) => None,
        }
    }

    /// The election protocol.
    pub fn protocol(&self) -> Protocol {
        self.settings.election.protocol()
    }

    /// The VRRP settings, when the protocol is VRRP.
    pub fn vrrp(&self) -> Option<&VrrpSettings> {
        match &self.settings.election {
            vip_core::ElectionSettings::Vrrp(v) => Some(v),
            vip_core::ElectionSettings::Quorum(_) | vip_core::ElectionSettings::Etcd(_) => None,
        }
    }

    /// The quorum settings, when the protocol is quorum.
    pub fn quorum(&self) -> Option<&vip_core::QuorumSettings> {
        match &self.settings.election {
            vip_core::ElectionSettings::Quorum(q) => Some(q),
            vip_core::ElectionSettings::Vrrp(_) | vip_core::ElectionSettings::Etcd(_) => None,
        }
    }

    /// The configured members.
    pub fn members(&self) -> &Members {
        &self.settings.members
    }

    /// The member name for `address`, if configured.
    pub fn member_name(&self, address: Ipv4Addr) -> Option<&str> {
        self.members()
            .iter()
            .find(|m| m.address == address)
            .map(|m| m.name.as_str())
    }

    /// A failure for this config's file.
    pub fn failure(&self, problems: Vec<Problem>) -> ConfigFailure {
        ConfigFailure {
            file: self.file.clone(),
            problems,
        }
    }
}

/// Reads, parses and validates the file at `path`; `hostname` supplies the
/// default node name.
pub fn load(
    path: &Path,
    hostname: impl FnOnce() -> Option<String>,
) -> Result<AgentConfig, ConfigFailure> {
    let fail = |problems| ConfigFailure {
        file: path.to_path_buf(),
        problems,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(vec![Problem::new("file", format!("cannot be read: {e}"))]))?;
    let raw = parse(&text).map_err(|p| fail(vec![p]))?;
    validate(path, raw, hostname).map_err(fail)
}

/// The host name, for the default node name (`/proc/sys/kernel/hostname`).
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}
