//! The agent's configuration: read the TOML file, check it, and combine it
//! with the interface's facts into a core [`vip_core::Config`].
//!
//! Three steps, each with errors that name the file and the key:
//! 1. [`parse`]: TOML syntax and key spelling (`deny_unknown_fields`), value
//!    types. Stops at the first problem (serde cannot go on past one).
//! 2. [`validate`]: every value's meaning (ranges, durations, addresses,
//!    names). Reports every problem found.
//! 3. [`resolve`]: the facts read from the interface (its MAC and addresses)
//!    plus the core's own rules, through `vip_core::Config::new`.
//!
//! [`load`] runs the first two. A failure prints as one line per problem,
//! `FILE: KEY: RULE`.

pub mod effective;
mod raw;
mod resolve;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use vip_core::{AnnounceConfig, ChecksumMode, Duration, GarpForm, VrrpSettings};

use crate::duration::parse_duration;
pub use raw::{RawConfig, DEFAULT_SOCKET};
pub use resolve::{resolve, InterfaceFacts, Resolved};

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

/// One configured cluster member, for names in status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's node name.
    pub name: String,
    /// Its management address.
    pub address: Ipv4Addr,
}

/// A checked config file, still without the interface's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// The file it came from, for messages.
    pub file: PathBuf,
    /// Cluster name.
    pub cluster: String,
    /// This node's name (default: the host name).
    pub node: String,
    /// The management interface.
    pub interface: String,
    /// The VIP.
    pub vip: Ipv4Addr,
    /// The election protocol.
    pub protocol: Protocol,
    /// VRRP settings.
    pub vrrp: VrrpSettings,
    /// Announcement settings.
    pub announce: AnnounceConfig,
    /// Status endpoints.
    pub status: StatusSettings,
    /// Hooks.
    pub hooks: HookSettings,
    /// Health check.
    pub health: Option<HealthSettings>,
    /// Configured members.
    pub members: Vec<Member>,
}

impl AgentConfig {
    /// The member name for `address`, if configured.
    pub fn member_name(&self, address: Ipv4Addr) -> Option<&str> {
        self.members
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

/// Parses TOML text into the raw config; the one problem names the key path.
pub fn parse(text: &str) -> Result<RawConfig, Problem> {
    let deserializer = match toml::de::Deserializer::parse(text) {
        Ok(d) => d,
        Err(e) => return Err(syntax_problem(text, &e)),
    };
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        serde_problem(&path, &inner)
    })
}

/// A TOML syntax error: the key is the line and column.
fn syntax_problem(text: &str, e: &toml::de::Error) -> Problem {
    let key = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}")
        }
        None => "toml".to_owned(),
    };
    Problem::new(key, format!("invalid TOML: {}", e.message().trim()))
}

/// A serde error at `path`: unknown keys, missing keys, wrong types.
fn serde_problem(path: &str, e: &toml::de::Error) -> Problem {
    let message = e.message().trim();
    // serde_path_to_error writes "." for the root and counts array items
    // from 0; keys here count [[member]] tables from 1, as people do.
    let key = if path.is_empty() || path == "." {
        String::new()
    } else {
        one_based(path)
    };
    let join = |name: &str| {
        if key.is_empty() {
            name.to_owned()
        } else {
            format!("{key}.{name}")
        }
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let full = if key.ends_with(name) && !key.is_empty() {
            key.clone()
        } else {
            join(name)
        };
        let expected = expected
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .replace('`', "");
        let rule = if expected.is_empty() || expected.starts_with("there are no fields") {
            "unknown key".to_owned()
        } else {
            format!("unknown key (known keys: {expected})")
        };
        return Problem::new(full, rule);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return Problem::new(join(name), "is required");
    }
    let key = if key.is_empty() {
        "toml".to_owned()
    } else {
        key
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
        let want = match expected {
            "i64" => "an integer",
            "a boolean" => "true or false",
            "a string" => "a string",
            other if other.starts_with("struct") || other.contains("map") => "a table",
            other if other.contains("sequence") => "an array of tables ([[...]])",
            other => other,
        };
        return Problem::new(
            key,
            format!("must be {want}, not {}", found.replace('`', "")),
        );
    }
    Problem::new(key, message.replace('`', ""))
}

/// Rewrites every `[N]` in a serde path as `[N+1]`.
fn one_based(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let close = rest.find(']').unwrap_or(rest.len());
        match rest[..close].parse::<usize>() {
            Ok(n) => out.push_str(&(n + 1).to_string()),
            Err(_) => out.push_str(&rest[..close]),
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

/// Accumulates problems while turning raw values into typed ones.
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn fail(&mut self, key: impl Into<String>, rule: impl Into<String>) {
        self.problems.push(Problem::new(key, rule));
    }

    fn duration(&mut self, key: &str, text: &str, min: Duration, max: Duration) -> Duration {
        match parse_duration(text) {
            Ok(d) if d < min || d > max => {
                self.fail(key, format!("must be from {min} to {max}, not {text:?}"));
                min
            }
            Ok(d) => d,
            Err(e) => {
                self.fail(key, format!("{e}, not {text:?}"));
                min
            }
        }
    }

    fn int_u8(&mut self, key: &str, value: i64, min: u8, max: u8) -> u8 {
        match u8::try_from(value) {
            Ok(v) if (min..=max).contains(&v) => v,
            _ => {
                self.fail(key, format!("must be from {min} to {max}, not {value}"));
                min
            }
        }
    }

    fn name(&mut self, key: &str, value: &str) {
        if value.is_empty() {
            self.fail(key, "must not be empty");
        } else if value.len() > 64 {
            self.fail(key, "must be at most 64 characters");
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.fail(
                key,
                format!("must not contain spaces or control characters, not {value:?}"),
            );
        }
    }

    fn ipv4(&mut self, key: &str, value: &str) -> Ipv4Addr {
        value.parse().unwrap_or_else(|_| {
            self.fail(
                key,
                format!("must be an IPv4 address such as 192.0.2.100, not {value:?}"),
            );
            Ipv4Addr::UNSPECIFIED
        })
    }

    fn command(&mut self, key: &str, value: &Option<String>) -> Option<String> {
        let value = value.as_ref()?;
        if value.trim().is_empty() {
            self.fail(key, "must not be empty (leave the key out for no command)");
        }
        Some(value.clone())
    }
}

/// Checks every value of `raw` (from `file`); reports every problem.
pub fn validate(
    file: &Path,
    raw: RawConfig,
    hostname: impl FnOnce() -> Option<String>,
) -> Result<AgentConfig, Vec<Problem>> {
    let mut c = Checker {
        problems: Vec::new(),
    };
    c.name("cluster", &raw.cluster);
    let node = match raw.node {
        Some(n) => {
            c.name("node", &n);
            n
        }
        None => match hostname() {
            Some(h) if !h.is_empty() => h,
            _ => {
                c.fail("node", "is required: the host name could not be read");
                String::new()
            }
        },
    };
    let iface = &raw.interface;
    if iface.is_empty()
        || iface.len() > 15
        || iface.contains(['/', ':'])
        || iface.contains(char::is_whitespace)
    {
        c.fail(
            "interface",
            format!("must be an interface name of 1 to 15 characters without '/', ':' or spaces, not {iface:?}"),
        );
    }
    let vip = c.ipv4("vip.address", &raw.vip.address);

    let e = &raw.election;
    let protocol = match Protocol::from_name(&e.protocol) {
        Some(p) => p,
        None => {
            let rule = if e.protocol == "quorum" {
                "\"quorum\" is not available in this version of vipd; use \"vrrp\"".to_string()
            } else {
                format!("must be \"vrrp\", not {:?}", e.protocol)
            };
            c.fail("election.protocol", rule);
            Protocol::Vrrp
        }
    };
    let checksum = match e.checksum.as_str() {
        "auto" => ChecksumMode::Auto,
        "rfc9568" => ChecksumMode::Rfc9568,
        "pseudo-header" => ChecksumMode::PseudoHeader,
        other => {
            c.fail(
                "election.checksum",
                format!("must be \"auto\", \"rfc9568\" or \"pseudo-header\", not {other:?}"),
            );
            ChecksumMode::Auto
        }
    };
    let interval = c.duration(
        "election.advert_interval",
        &e.advert_interval,
        Duration::from_millis(10),
        Duration::from_centis(4095),
    );
    if interval.total_micros() % 10_000 != 0 {
        c.fail(
            "election.advert_interval",
            format!(
                "must be a multiple of 10ms (VRRP counts centiseconds), not {:?}",
                e.advert_interval
            ),
        );
    }
    if e.virtual_mac {
        // The core can speak for 00:00:5e:00:01:VRID, but the daemon creates
        // no macvlan: the NIC would drop unicast to that MAC and the kernel
        // would still answer ARP with the interface's own MAC.
        c.fail(
            "election.virtual_mac",
            "is not supported by vipd yet (the interface would need a macvlan to receive frames for 00:00:5e:00:01:VRID); use false",
        );
    }
    let vrrp = VrrpSettings {
        vrid: c.int_u8("election.vrid", e.vrid, 1, 255),
        priority: c.int_u8("election.priority", e.priority, 1, 255),
        advert_interval: interval,
        preempt: e.preempt,
        preempt_delay: c.duration(
            "election.preempt_delay",
            &e.preempt_delay,
            Duration::ZERO,
            Duration::from_secs(3600),
        ),
        checksum,
        virtual_mac: e.virtual_mac,
    };

    let a = &raw.announce;
    let refresh = match parse_duration(&a.refresh_interval) {
        Ok(Duration::ZERO) => Duration::ZERO,
        _ => c.duration(
            "announce.refresh_interval",
            &a.refresh_interval,
            Duration::from_millis(10),
            Duration::from_secs(3600),
        ),
    };
    let form = match a.form.as_str() {
        "request" => GarpForm::Request,
        "reply" => GarpForm::Reply,
        "both" => GarpForm::Both,
        other => {
            c.fail(
                "announce.form",
                format!("must be \"request\", \"reply\" or \"both\", not {other:?}"),
            );
            GarpForm::Both
        }
    };
    let announce = AnnounceConfig {
        garp_count: c.int_u8("announce.garp_count", a.garp_count, 1, 100),
        garp_interval: c.duration(
            "announce.garp_interval",
            &a.garp_interval,
            Duration::from_millis(1),
            Duration::from_secs(60),
        ),
        refresh_interval: refresh,
        form,
        answer_arp: a.answer_arp,
    };

    let s = &raw.status;
    let socket = PathBuf::from(&s.socket);
    if !socket.is_absolute() {
        c.fail(
            "status.socket",
            format!("must be an absolute path, not {:?}", s.socket),
        );
    }
    let http = s.http.as_ref().and_then(|h| match h.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            c.fail(
                "status.http",
                format!("must be ADDRESS:PORT such as 127.0.0.1:9405, not {h:?}"),
            );
            None
        }
    });

    let h = &raw.hooks;
    let hooks = HookSettings {
        on_acquire: c.command("hooks.on_acquire", &h.on_acquire),
        on_release: c.command("hooks.on_release", &h.on_release),
        timeout: c.duration(
            "hooks.timeout",
            &h.timeout,
            Duration::from_millis(1),
            Duration::from_secs(3600),
        ),
    };

    let health = raw.health.as_ref().map(|h| {
        let command = c
            .command("health.command", &Some(h.command.clone()))
            .unwrap_or_default();
        let interval = c.duration(
            "health.interval",
            &h.interval,
            Duration::from_millis(10),
            Duration::from_secs(3600),
        );
        let timeout = match &h.timeout {
            Some(t) => c.duration(
                "health.timeout",
                t,
                Duration::from_millis(1),
                Duration::from_secs(3600),
            ),
            None => interval,
        };
        HealthSettings {
            command,
            interval,
            timeout,
        }
    });

    let mut members = Vec::new();
    let mut names = BTreeSet::new();
    let mut addresses = BTreeSet::new();
    for (i, m) in raw.members.iter().enumerate() {
        let key = |field: &str| format!("member[{}].{field}", i + 1);
        c.name(&key("name"), &m.name);
        if !names.insert(m.name.clone()) {
            c.fail(key("name"), format!("{:?} is listed twice", m.name));
        }
        let address = c.ipv4(&key("address"), &m.address);
        if !address.is_unspecified() {
            if !addresses.insert(address) {
                c.fail(key("address"), format!("{address} is listed twice"));
            }
            if address == vip {
                c.fail(
                    "vip.address",
                    format!("must differ from member {}'s address {address}", m.name),
                );
            }
        }
        members.push(Member {
            name: m.name.clone(),
            address,
        });
    }

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok(AgentConfig {
        file: file.to_path_buf(),
        cluster: raw.cluster,
        node,
        interface: raw.interface,
        vip,
        protocol,
        vrrp,
        announce,
        status: StatusSettings { socket, http },
        hooks,
        health,
        members,
    })
}

/// The host name, for the default node name (`/proc/sys/kernel/hostname`).
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}
