//! What `run`, `check` and `cleanup` share: loading the config, reading the
//! interface, and the exit code of each kind of failure.

use std::fmt;
use std::path::Path;

use crate::config::{self, AgentConfig, ConfigFailure, InterfaceFacts, Problem, Resolved};
use crate::sys::{self, InterfaceInfo, SysError};

/// Why a command could not do its work.
#[derive(Debug)]
pub enum Failure {
    /// The config (or an interface it names) is wrong: exit 2.
    Config(ConfigFailure),
    /// A capability is missing: exit 1.
    Privilege(String),
    /// The system refused something at run time: exit 1.
    System(String),
    /// A command-line argument that clap cannot check: exit 2.
    Usage(String),
}

impl Failure {
    /// The process exit code: 2 for a config the operator must fix, 1 for
    /// everything else (see docs/operations.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Config(_) | Failure::Usage(_) => 2,
            Failure::Privilege(_) | Failure::System(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Config(c) => c.fmt(f),
            Failure::Privilege(m) | Failure::System(m) | Failure::Usage(m) => {
                write!(f, "vipd: {m}")
            }
        }
    }
}

impl From<ConfigFailure> for Failure {
    fn from(c: ConfigFailure) -> Self {
        Failure::Config(c)
    }
}

/// Loads and validates the config file (node defaults to the host name).
pub fn load(path: &Path) -> Result<AgentConfig, Failure> {
    Ok(config::load(path, config::hostname)?)
}

/// Reads the interface the config names; a missing or unusable interface is
/// a config failure naming `interface`.
pub fn interface(config: &AgentConfig) -> Result<InterfaceInfo, Failure> {
    sys::interface_info(&config.interface).map_err(|e| match e {
        SysError::NoSuchInterface { .. } => Failure::Config(config.failure(vec![Problem::new(
            "interface",
            format!(
                "no interface named {:?} in this network namespace",
                config.interface
            ),
        )])),
        SysError::NotEthernet { .. } | SysError::InvalidInterfaceName { .. } => {
            Failure::Config(config.failure(vec![Problem::new("interface", e.to_string())]))
        }
        other => Failure::System(other.to_string()),
    })
}

/// Loads the config, reads its interface and resolves both into a runnable config.
pub fn prepare(path: &Path) -> Result<(AgentConfig, InterfaceInfo, Resolved), Failure> {
    let config = load(path)?;
    let info = interface(&config)?;
    let facts = InterfaceFacts {
        mac: info.mac,
        ipv4: info.ipv4.clone(),
    };
    let resolved = config::resolve(&config, &facts).map_err(|p| config.failure(p))?;
    Ok((config, info, resolved))
}

/// `vipd cleanup`: removes this node's VIP (as a /32) from the interface if
/// present (in the DHCP mode, the VIP MAC's macvlan with its address), and
/// the quorum election's fence (it is closed after a crash: the VIP goes
/// first, then the fence). A missing interface has nothing to clean.
pub fn cleanup(path: &Path) -> Result<bool, Failure> {
    let config = load(path)?;
    let info = match sys::interface_info(&config.interface) {
        Ok(info) => info,
        Err(SysError::NoSuchInterface { .. }) => return Ok(false),
        Err(e) => return Err(Failure::System(e.to_string())),
    };
    let stale = config.vip().filter(|vip| info.ipv4.contains(&(*vip, 32)));
    if let Some(vip) = stale {
        sys::remove_vip(info.index, vip).map_err(|e| Failure::System(e.to_string()))?;
    }
    let mut present = stale.is_some();
    // A VIP with a MAC of its own lives on that MAC's macvlan: removing it
    // takes the address with it.
    if let Some(mac) = config.settings.shared_vip_mac() {
        let name = sys::vip_link_name(mac.0);
        present |= sys::remove_vip_link(&name).map_err(|e| Failure::System(e.to_string()))?;
    }
    if config.quorum().is_some() {
        sys::remove_fence(info.index).map_err(|e| Failure::System(e.to_string()))?;
    }
    Ok(present)
}
