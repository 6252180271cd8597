//! Step 2 of reading a config: every value's meaning, every problem at once.
//!
//! The cluster's settings become vip-core's [`ClusterSettings`] and are
//! judged by its rules ([`ClusterSettings::check`]): ranges, defaults and
//! enum words come from vip-core; what is checked here is only what the
//! core cannot see (text that is not a number, a duration or an address; a
//! number too big for its type, quoting the core's range) and the daemon's
//! own sections (`[status]`, `[hooks]`, `[health]`, `interface`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use vip_core::config::limits;
use vip_core::config::text::{parse_mac, AnnounceText, EtcdText, QuorumText, Refusals};
use vip_core::config::{derived_hwaddr, DhcpSettings, VipMode, VipSettings};
use vip_core::config::{Member, Members, Rule};
use vip_core::election::quorum::auth::AuthKey;
use vip_core::{
    AnnounceConfig, ClusterSettings, Duration, ElectionSettings, EtcdSettings, Name, Protocol,
    QuorumSettings, VrrpSettings,
};

use super::raw::RawConfig;
use super::{AgentConfig, HealthSettings, HookSettings, Problem, StatusSettings};

/// Longest a hook or a health check may be given, and the shortest.
const COMMAND_TIMEOUT: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(3600));
/// The health check's period: at most once per 10 ms, at least hourly.
const HEALTH_INTERVAL: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(3600));

/// The problems found so far while turning raw values into typed ones.
struct Problems {
    list: Vec<Problem>,
}

impl Refusals for Problems {
    fn refuse(&mut self, key: &str, why: std::fmt::Arguments<'_>) {
        self.fail(key, why.to_string());
    }
}

impl Problems {
    fn fail(&mut self, key: impl Into<String>, rule: impl Into<String>) {
        self.list.push(Problem::new(key, rule));
    }

    /// A duration of a daemon setting, range-checked here (the core has no say).
    fn bounded(&mut self, key: &str, text: &str, (min, max): (Duration, Duration)) -> Duration {
        match Duration::parse(text) {
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

    fn name(&mut self, key: &str, text: &str) -> Name {
        Name::new(text).unwrap_or_else(|rule| {
            let rule = match rule {
                Rule::NameCharacters => format!("{rule}, not {text:?}"),
                other => other.to_string(),
            };
            self.fail(key, rule);
            Name::default()
        })
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
    let mut c = Problems { list: Vec::new() };
    let cluster = c.name("cluster", &raw.cluster);
    let node = match &raw.node {
        Some(n) => c.name("node", n),
        None => match hostname() {
            Some(h) if !h.is_empty() => c.name("node", &h),
            _ => {
                c.fail("node", "is required: the host name could not be read");
                Name::default()
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
    let vip = vip(&mut c, &raw, &cluster);
    let election = election(&mut c, &raw);
    let announce = announce(&mut c, &raw);
    let status = status(&mut c, &raw);
    let hooks = hooks(&mut c, &raw);
    let health = health(&mut c, &raw);
    let etcd = match election.protocol() {
        Protocol::Etcd => super::etcd::read(&mut c.list, raw.etcd.as_ref(), cluster.as_str()),
        _ => {
            if raw.etcd.is_some() {
                c.fail(
                    "etcd",
                    "applies only to protocol = \"etcd\"; remove the [etcd] table, or set [election] protocol = \"etcd\"",
                );
            }
            None
        }
    };
    let mut members = Members::new();
    let mut unparsed = Vec::new();
    for (i, m) in raw.members.iter().enumerate() {
        let key = |field: &str| format!("member[{}].{field}", i + 1);
        let member = Member {
            name: c.name(&key("name"), &m.name),
            address: c.ipv4(&key("address"), &m.address),
            witness: m.witness.unwrap_or(false),
        };
        if member.address.is_unspecified() {
            unparsed.push((i, "address"));
        }
        if member.name.is_empty() {
            unparsed.push((i, "name"));
        }
        if members.push(member).is_err() {
            c.fail("member", Rule::TooManyMembers.to_string());
            break;
        }
    }
    let settings = ClusterSettings {
        cluster,
        vip,
        members,
        announce,
        election,
    };
    // The core's own rules, once the values are typed (a value already
    // refused above was replaced by a valid one, so nothing is said twice).
    if let Err(errors) = settings.check() {
        for e in errors.iter() {
            // A value already refused as text says nothing more as its stand-in.
            let refused = (e.key.name == "vip.address"
                && vip == VipSettings::Static(Ipv4Addr::UNSPECIFIED))
                || e.key
                    .member
                    .is_some_and(|i| unparsed.contains(&(i, e.key.name)));
            if !refused {
                c.fail(e.key.to_string(), e.message().to_string());
            }
        }
    }
    if !c.list.is_empty() {
        return Err(c.list);
    }
    Ok(AgentConfig {
        file: file.to_path_buf(),
        node,
        interface: raw.interface,
        key_file: raw.election.key_file.as_ref().map(PathBuf::from),
        settings,
        status,
        hooks,
        health,
        etcd,
    })
}

/// `[vip]`: a fixed address, or a DHCP lease for the VIP MAC (given, or
/// derived from the cluster's name).
fn vip(c: &mut Problems, raw: &RawConfig, cluster: &Name) -> VipSettings {
    let v = &raw.vip;
    match c.word("vip.mode", v.mode.as_deref(), VipMode::Static) {
        VipMode::Static => {
            if v.hwaddr.is_some() {
                c.fail(
                    "vip.hwaddr",
                    "applies only to mode = \"dhcp\" (a fixed VIP answers with the holder's own MAC); remove it",
                );
            }
            let Some(address) = &v.address else {
                c.fail(
                    "vip.address",
                    "is required (or mode = \"dhcp\" to lease the VIP from a DHCP server)",
                );
                return VipSettings::Static(Ipv4Addr::UNSPECIFIED);
            };
            VipSettings::Static(c.ipv4("vip.address", address))
        }
        VipMode::Dhcp => {
            if v.address.is_some() {
                c.fail(
                    "vip.address",
                    "is not allowed with mode = \"dhcp\": the DHCP server gives the address (map vip.hwaddr to it there)",
                );
            }
            let hwaddr = match &v.hwaddr {
                None => derived_hwaddr(cluster),
                Some(text) => parse_mac(text).unwrap_or_else(|| {
                    c.fail(
                        "vip.hwaddr",
                        format!("must be a MAC address such as 02:00:00:09:7f:3f, not {text:?}"),
                    );
                    derived_hwaddr(cluster)
                }),
            };
            VipSettings::Dhcp(DhcpSettings { hwaddr })
        }
    }
}

fn election(c: &mut Problems, raw: &RawConfig) -> ElectionSettings {
    let e = &raw.election;
    let members = raw.members.len();
    let protocol = c.word(
        "election.protocol",
        e.protocol.as_deref(),
        Protocol::default_for(members),
    );
    // A key of the other protocol is a mistake to say, not to ignore.
    let foreign: &[(&str, bool)] = match protocol {
        Protocol::Vrrp => &[
            ("lease", e.lease.is_some()),
            ("max_drift", e.max_drift.is_some()),
            ("fence_margin", e.fence_margin.is_some()),
            ("reannounce_after", e.reannounce_after.is_some()),
            ("ethertype", e.ethertype.is_some()),
            ("group_mac", e.group_mac.is_some()),
            ("key_file", e.key_file.is_some()),
        ],
        Protocol::Quorum => &[
            ("vrid", e.vrid.is_some()),
            ("checksum", e.checksum.is_some()),
            ("virtual_mac", e.virtual_mac.is_some()),
        ],
        // etcd elects the oldest key and keeps its lease at TTL/4: no
        // frames, no adverts, no preemption of its own.
        Protocol::Etcd => &[
            ("advert_interval", e.advert_interval.is_some()),
            ("lease", e.lease.is_some()),
            ("preempt", e.preempt.is_some()),
            ("preempt_delay", e.preempt_delay.is_some()),
            ("reannounce_after", e.reannounce_after.is_some()),
            ("ethertype", e.ethertype.is_some()),
            ("group_mac", e.group_mac.is_some()),
            ("key_file", e.key_file.is_some()),
            ("vrid", e.vrid.is_some()),
            ("checksum", e.checksum.is_some()),
            ("virtual_mac", e.virtual_mac.is_some()),
        ],
    };
    for (key, set) in foreign {
        if *set {
            c.fail(
                format!("election.{key}"),
                format!(
                    "applies only to another protocol, not to protocol = \"{}\"; remove it",
                    protocol.as_str()
                ),
            );
        }
    }
    match protocol {
        Protocol::Vrrp => ElectionSettings::Vrrp(vrrp(c, raw)),
        Protocol::Quorum => ElectionSettings::Quorum(quorum(c, raw)),
        Protocol::Etcd => ElectionSettings::Etcd(etcd_election(c, raw)),
    }
}

fn etcd_election(c: &mut Problems, raw: &RawConfig) -> EtcdSettings {
    let e = &raw.election;
    let d = EtcdSettings::with_defaults(100);
    let text = EtcdText {
        lease_ttl: raw.etcd.as_ref().and_then(|t| t.lease_ttl.as_deref()),
        max_drift: e.max_drift,
        fence_margin: e.fence_margin.as_deref(),
    };
    EtcdSettings {
        priority: c.int_u8(
            "election.priority",
            e.priority,
            limits::PRIORITY,
            d.priority,
        ),
        ..EtcdSettings::read(text, d, c)
    }
}

fn vrrp(c: &mut Problems, raw: &RawConfig) -> VrrpSettings {
    let e = &raw.election;
    let d = VrrpSettings::default();
    let virtual_mac = e.virtual_mac.unwrap_or(d.virtual_mac);
    VrrpSettings {
        checksum: c.word("election.checksum", e.checksum.as_deref(), d.checksum),
        advert_interval: c.duration(
            "election.advert_interval",
            e.advert_interval.as_deref(),
            d.advert_interval,
        ),
        vrid: c.int_u8("election.vrid", e.vrid, limits::VRID, d.vrid),
        priority: c.int_u8(
            "election.priority",
            e.priority,
            limits::PRIORITY,
            d.priority,
        ),
        preempt: e.preempt.unwrap_or(d.preempt),
        preempt_delay: c.duration(
            "election.preempt_delay",
            e.preempt_delay.as_deref(),
            d.preempt_delay,
        ),
        virtual_mac,
    }
}

fn quorum(c: &mut Problems, raw: &RawConfig) -> QuorumSettings {
    let e = &raw.election;
    let interval = c.duration(
        "election.advert_interval",
        e.advert_interval.as_deref(),
        QuorumSettings::DEFAULT_ADVERT_INTERVAL,
    );
    let key = match &e.key_file {
        Some(path) => read_key(c, Path::new(path)),
        None => {
            c.fail(
                "election.key_file",
                "is required for protocol = \"quorum\": a file of 32 to 64 random bytes, the same on every member (for example head -c 32 /dev/urandom > /etc/vipd/cluster.key; chmod 600 /etc/vipd/cluster.key)",
            );
            None
        }
    };
    // A key that could not be read was refused above; a placeholder of the
    // right length keeps the core from saying so a second time.
    let key = key.unwrap_or_else(|| AuthKey::new(&[0; 32]).unwrap_or_default());
    let d = QuorumSettings::with_defaults(interval, key);
    let ethertype = match e.ethertype {
        None => d.ethertype,
        Some(v) => u16::try_from(v).unwrap_or_else(|_| {
            c.fail(
                "election.ethertype",
                format!("must be from 0x0600 to 0xffff, not {v}"),
            );
            d.ethertype
        }),
    };
    let group_mac = e.group_mac.as_ref().and_then(|text| match parse_mac(text) {
        Some(mac) => Some(mac),
        None => {
            c.fail(
                "election.group_mac",
                format!("must be a MAC address such as 01:00:5e:00:00:b5, not {text:?}"),
            );
            None
        }
    });
    let text = QuorumText {
        lease: e.lease.as_deref(),
        max_drift: e.max_drift,
        fence_margin: e.fence_margin.as_deref(),
        preempt: e.preempt,
        preempt_delay: e.preempt_delay.as_deref(),
        reannounce_after: e.reannounce_after.as_deref(),
    };
    let priority = c.int_u8(
        "election.priority",
        e.priority,
        limits::PRIORITY,
        d.priority,
    );
    QuorumSettings {
        priority,
        ethertype,
        group_mac,
        ..QuorumSettings::read(text, d, c)
    }
}

/// The cluster key from `path`: readable by its owner only, 32 to 64 bytes.
fn read_key(c: &mut Problems, path: &Path) -> Option<AuthKey> {
    use std::os::unix::fs::PermissionsExt as _;
    let key = "election.key_file";
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            c.fail(key, format!("{shown} cannot be read: {e}"));
            return None;
        }
    };
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        c.fail(
            key,
            format!(
                "{shown} must be readable by its owner only (mode {:o}; chmod 600 {shown})",
                mode & 0o777
            ),
        );
        return None;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            c.fail(key, format!("{shown} cannot be read: {e}"));
            return None;
        }
    };
    let found = AuthKey::new(&bytes);
    if found.is_none() {
        c.fail(
            key,
            format!(
                "{shown} holds {} bytes: {} (a key of 32 to 64 random bytes)",
                bytes.len(),
                vip_core::config::Rule::KeyLength
            ),
        );
    }
    found
}

fn announce(c: &mut Problems, raw: &RawConfig) -> AnnounceConfig {
    let a = &raw.announce;
    let text = AnnounceText {
        garp_count: a.garp_count,
        garp_interval: a.garp_interval.as_deref(),
        refresh_interval: a.refresh_interval.as_deref(),
        form: a.form.as_deref(),
        answer_arp: a.answer_arp,
    };
    AnnounceConfig::read(text, c)
}

fn status(c: &mut Problems, raw: &RawConfig) -> StatusSettings {
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
    StatusSettings { socket, http }
}

fn hooks(c: &mut Problems, raw: &RawConfig) -> HookSettings {
    let h = &raw.hooks;
    HookSettings {
        on_acquire: c.command("hooks.on_acquire", &h.on_acquire),
        on_release: c.command("hooks.on_release", &h.on_release),
        timeout: c.bounded("hooks.timeout", &h.timeout, COMMAND_TIMEOUT),
    }
}

fn health(c: &mut Problems, raw: &RawConfig) -> Option<HealthSettings> {
    let h = raw.health.as_ref()?;
    let command = c
        .command("health.command", &Some(h.command.clone()))
        .unwrap_or_default();
    let interval = c.bounded("health.interval", &h.interval, HEALTH_INTERVAL);
    let timeout = match &h.timeout {
        Some(t) => c.bounded("health.timeout", t, COMMAND_TIMEOUT),
        None => interval,
    };
    Some(HealthSettings {
        command,
        interval,
        timeout,
    })
}
