//! `vipd check`: the effective config, defaults included, as TOML.

use std::fmt::Write;

use vip_core::election::quorum::timing;
use vip_core::election::vrrp::{master_down_interval, skew_time};
use vip_core::{ElectionSettings, QuorumSettings, VipSettings, VrrpSettings};

use super::{AgentConfig, Resolved};
use crate::status::format_mac;

fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The effective config, with the interface's facts as comments.
pub fn render(c: &AgentConfig, r: &Resolved, ifindex: u32) -> String {
    let mut o = String::new();
    let a = &c.settings.announce;
    let _ = writeln!(o, "# {}: OK", c.file.display());
    let _ = writeln!(
        o,
        "# interface {} (index {ifindex}): hwaddr {}, node address {}/{}",
        c.interface,
        format_mac(r.core.mac()),
        r.address,
        r.prefix_len
    );
    match &c.settings.election {
        ElectionSettings::Vrrp(v) => {
            let _ = writeln!(
                o,
                "# VIP answered by hwaddr {}; master down interval {}, skew {}",
                format_mac(r.core.vip_mac()),
                master_down_interval(v.advert_interval, v.priority),
                skew_time(v.advert_interval, v.priority)
            );
        }
        ElectionSettings::Quorum(q) => {
            let digest = r
                .core
                .quorum()
                .map(|_| vip_core::Node::new(r.core.clone(), 0, vip_core::Instant::ZERO))
                .and_then(|n| n.election().as_quorum().map(|q| q.digest()));
            let _ = writeln!(
                o,
                "# VIP answered by hwaddr {}; holder's lease {} after each acknowledged renewal; \
                 restart wait up to {}; config digest {}",
                format_mac(r.core.vip_mac()),
                q.holder_lease(),
                timing::restart_wait(timing::PriorRuns::ThisBoot {
                    lease: q.lease,
                    drift_ppm: q.max_drift_ppm
                }),
                digest.map_or_else(|| "-".to_owned(), |d| hex(&d))
            );
        }
        ElectionSettings::Etcd(e) => {
            let _ = writeln!(
                o,
                "# VIP answered by hwaddr {}; holder's lease {} from the asking of each answered keep-alive, one every {}",
                format_mac(r.core.vip_mac()),
                e.holder_lease(),
                vip_core::election::etcd::keepalive_interval(e.lease_ttl)
            );
        }
    }
    let _ = writeln!(o, "cluster = {}", quote(c.cluster()));
    let _ = writeln!(o, "node = {}", quote(&c.node));
    let _ = writeln!(o, "interface = {}", quote(&c.interface));
    match c.settings.vip {
        VipSettings::Static(address) => {
            let _ = writeln!(o, "\n[vip]\naddress = \"{address}\"");
        }
        VipSettings::Dhcp(d) => {
            let hwaddr = vip_core::config::text::MacText(d.hwaddr);
            let _ = writeln!(o, "\n[vip]\nmode = \"dhcp\"\nhwaddr = \"{hwaddr}\"");
        }
    }
    match &c.settings.election {
        ElectionSettings::Vrrp(v) => vrrp(&mut o, v),
        ElectionSettings::Quorum(q) => quorum(&mut o, q, c),
        ElectionSettings::Etcd(e) => etcd(&mut o, e, c),
    }
    let _ = writeln!(
        o,
        "\n[announce]\ngarp_count = {}\ngarp_interval = \"{}\"\nrefresh_interval = \"{}\"\n\
         form = \"{}\"\nanswer_arp = {}",
        a.garp_count,
        a.garp_interval,
        a.refresh_interval,
        a.form.as_str(),
        a.answer_arp
    );
    let _ = writeln!(
        o,
        "\n[status]\nsocket = {}",
        quote(&c.status.socket.display().to_string())
    );
    match c.status.http {
        Some(h) => {
            let _ = writeln!(o, "http = \"{h}\"");
        }
        None => o.push_str("# http: not served\n"),
    }
    o.push_str("\n[hooks]\n");
    for (key, value) in [
        ("on_acquire", &c.hooks.on_acquire),
        ("on_release", &c.hooks.on_release),
    ] {
        match value {
            Some(cmd) => {
                let _ = writeln!(o, "{key} = {}", quote(cmd));
            }
            None => {
                let _ = writeln!(o, "# {key}: none");
            }
        }
    }
    let _ = writeln!(o, "timeout = \"{}\"", c.hooks.timeout);
    match &c.health {
        Some(h) => {
            let _ = writeln!(
                o,
                "\n[health]\ncommand = {}\ninterval = \"{}\"\ntimeout = \"{}\"",
                quote(&h.command),
                h.interval,
                h.timeout
            );
        }
        None => o.push_str("\n# [health]: no health check\n"),
    }
    for m in c.members() {
        let _ = writeln!(
            o,
            "\n[[member]]\nname = {}\naddress = \"{}\"{}",
            quote(&m.name),
            m.address,
            if m.witness { "\nwitness = true" } else { "" }
        );
    }

    o
}

fn vrrp(o: &mut String, v: &VrrpSettings) {
    let _ = writeln!(
        o,
        "\n[election]\nprotocol = \"vrrp\"\npriority = {}\nadvert_interval = \"{}\"\nvrid = {}\n\
         preempt = {}\npreempt_delay = \"{}\"\nchecksum = \"{}\"\nvirtual_mac = {}",
        v.priority,
        v.advert_interval,
        v.vrid,
        v.preempt,
        v.preempt_delay,
        v.checksum.as_str(),
        v.virtual_mac
    );
}

fn quorum(o: &mut String, q: &QuorumSettings, c: &AgentConfig) {
    let _ = writeln!(
        o,
        "\n[election]\nprotocol = \"quorum\"\npriority = {}\nadvert_interval = \"{}\"\nlease = \"{}\"\n\
         max_drift = {}\nfence_margin = \"{}\"\npreempt = {}\npreempt_delay = \"{}\"\n\
         reannounce_after = \"{}\"\nethertype = 0x{:04x}",
        q.priority,
        q.advert_interval,
        q.lease,
        q.max_drift_ppm,
        q.fence_margin,
        q.preempt,
        q.preempt_delay,
        q.reannounce_after,
        q.ethertype
    );
    if let Some(g) = q.group_mac {
        let _ = writeln!(o, "group_mac = \"{}\"", format_mac(g));
    }
    if let Some(k) = &c.key_file {
        let _ = writeln!(o, "key_file = {}", quote(&k.display().to_string()));
    }
}

fn etcd(o: &mut String, e: &vip_core::EtcdSettings, c: &AgentConfig) {
    let _ = writeln!(
        o,
        "\n[election]\nprotocol = \"etcd\"\npriority = {}\nmax_drift = {}\nfence_margin = \"{}\"\n\n[etcd]\nlease_ttl = \"{}\"",
        e.priority, e.max_drift_ppm, e.fence_margin, e.lease_ttl
    );
    let Some(t) = &c.etcd else { return };
    let endpoints: Vec<String> = t.endpoints.iter().map(|e| quote(e)).collect();
    let _ = writeln!(o, "endpoints = [{}]", endpoints.join(", "));
    let _ = writeln!(o, "prefix = {}", quote(&t.prefix));
    match &t.tls {
        Some(tls) => {
            let _ = writeln!(o, "ca_file = {}", quote(&tls.ca_file.display().to_string()));
            if let Some((cert, key)) = &tls.identity {
                let _ = writeln!(o, "cert_file = {}", quote(&cert.display().to_string()));
                let _ = writeln!(o, "key_file = {}", quote(&key.display().to_string()));
            }
        }
        None => o.push_str("# plain http\n"),
    }
    if t.allow_insecure {
        o.push_str("allow_insecure = true\n");
    }
}

/// Bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
