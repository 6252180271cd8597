//! The privilege check: are CAP_NET_RAW and CAP_NET_ADMIN effective?

use std::fmt;
use std::io;

/// A capability the daemon needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// CAP_NET_ADMIN (bit 12): add and remove the VIP through netlink.
    NetAdmin,
    /// CAP_NET_RAW (bit 13): open the AF_PACKET socket.
    NetRaw,
    /// CAP_BPF (bit 39): load the quorum election's kernel fence
    /// (CAP_SYS_ADMIN, bit 21, does as well).
    Bpf,
}

impl Capability {
    /// The capability's bit in the kernel's capability sets.
    pub const fn bit(self) -> u32 {
        match self {
            Self::NetAdmin => 12,
            Self::NetRaw => 13,
            Self::Bpf => 39,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::NetAdmin => "CAP_NET_ADMIN",
            Self::NetRaw => "CAP_NET_RAW",
            Self::Bpf => "CAP_BPF",
        }
    }

    fn purpose(self) -> &'static str {
        match self {
            Self::NetAdmin => "to add and remove the VIP",
            Self::NetRaw => "for the AF_PACKET socket",
            Self::Bpf => "to load the quorum election's VIP fence",
        }
    }
}

/// Why the daemon may not run with the privileges it has.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// One or both capabilities are not in the effective set.
    #[error("{}", describe_missing(.missing, .iface))]
    Missing {
        /// The missing capabilities, CAP_NET_RAW first.
        missing: Vec<Capability>,
        /// The interface they are needed on.
        iface: String,
    },
    /// /proc/self/status could not be read or has no CapEff line.
    #[error("cannot read effective capabilities from /proc/self/status: {0}")]
    Unreadable(#[source] io::Error),
}

fn describe_missing(missing: &[Capability], iface: &str) -> String {
    let parts: Vec<String> = missing
        .iter()
        .map(|c| format!("{} (needed {} on {iface})", c.name(), c.purpose()))
        .collect();
    format!("missing {}", parts.join(" and "))
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Checks that CAP_NET_RAW and CAP_NET_ADMIN (and with `fence`, CAP_BPF or
/// CAP_SYS_ADMIN) are in the effective set.
///
/// `iface` only names the management interface in the message. Reads
/// `/proc/self/status`, so it judges the calling thread's process; root
/// without those capabilities (a restricted container) fails too.
pub fn check_privileges(iface: &str, fence: bool) -> Result<(), PrivilegeError> {
    let status =
        std::fs::read_to_string("/proc/self/status").map_err(PrivilegeError::Unreadable)?;
    let cap_eff = parse_cap_eff(&status).ok_or_else(|| {
        PrivilegeError::Unreadable(io::Error::new(
            io::ErrorKind::InvalidData,
            "no readable CapEff line",
        ))
    })?;
    missing_from(cap_eff, iface, fence)
}

/// CAP_SYS_ADMIN's bit: loading eBPF programs needed it before CAP_BPF.
const SYS_ADMIN_BIT: u32 = 21;

fn missing_from(cap_eff: u64, iface: &str, fence: bool) -> Result<(), PrivilegeError> {
    let has = |bit: u32| cap_eff & (1u64 << bit) != 0;
    let mut missing: Vec<Capability> = [Capability::NetRaw, Capability::NetAdmin]
        .into_iter()
        .filter(|c| !has(c.bit()))
        .collect();
    if fence && !has(Capability::Bpf.bit()) && !has(SYS_ADMIN_BIT) {
        missing.push(Capability::Bpf);
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PrivilegeError::Missing {
            missing,
            iface: iface.to_owned(),
        })
    }
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cap_eff_line() {
        let status = "Name:\tvipd\nCapPrm:\t0000000000000000\nCapEff:\t000001fffeffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x0000_01ff_feff_ffff));
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
        assert_eq!(parse_cap_eff("CapEff:\tzz\n"), None);
    }

    #[test]
    fn full_set_passes() {
        assert!(missing_from(u64::MAX, "eth0", true).is_ok());
        assert!(missing_from((1 << 12) | (1 << 13), "eth0", false).is_ok());
        let err = missing_from((1 << 12) | (1 << 13), "eth0", true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing CAP_BPF (needed to load the quorum election's VIP fence on eth0)"
        );
        assert!(missing_from((1 << 12) | (1 << 13) | (1 << 21), "eth0", true).is_ok());
    }

    #[test]
    fn names_missing_raw() {
        let err = missing_from(1 << 12, "eth0", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing CAP_NET_RAW (needed for the AF_PACKET socket on eth0)"
        );
    }

    #[test]
    fn names_both_missing() {
        let err = missing_from(0, "bond0", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing CAP_NET_RAW (needed for the AF_PACKET socket on bond0) and \
             CAP_NET_ADMIN (needed to add and remove the VIP on bond0)"
        );
    }
}
