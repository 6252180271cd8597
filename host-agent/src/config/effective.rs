//! `vipd check`: the effective config, defaults included, as TOML.

use std::fmt::Write;

use vip_core::election::vrrp::{master_down_interval, skew_time};
use vip_core::ElectionSettings;

use super::{AgentConfig, Resolved};
use crate::status::format_mac;

fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The effective config, with the interface's facts as comments.
pub fn render(c: &AgentConfig, r: &Resolved, ifindex: u32) -> String {
    let mut o = String::new();
    let ElectionSettings::Vrrp(v) = &c.settings.election;
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
    let _ = writeln!(
        o,
        "# VIP answered by hwaddr {}; master down interval {}, skew {}",
        format_mac(r.core.vip_mac()),
        master_down_interval(v.advert_interval, v.priority),
        skew_time(v.advert_interval, v.priority)
    );
    let _ = writeln!(o, "cluster = {}", quote(c.cluster()));
    let _ = writeln!(o, "node = {}", quote(&c.node));
    let _ = writeln!(o, "interface = {}", quote(&c.interface));
    let _ = writeln!(o, "\n[vip]\naddress = \"{}\"", c.vip());
    let _ = writeln!(
        o,
        "\n[election]\nprotocol = \"{}\"\npriority = {}\nadvert_interval = \"{}\"\nvrid = {}\n\
         preempt = {}\npreempt_delay = \"{}\"\nchecksum = \"{}\"\nvirtual_mac = {}",
        c.protocol().as_str(),
        v.priority,
        v.advert_interval,
        v.vrid,
        v.preempt,
        v.preempt_delay,
        v.checksum.as_str(),
        v.virtual_mac
    );
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
            "\n[[member]]\nname = {}\naddress = \"{}\"",
            quote(&m.name),
            m.address
        );
    }
    o
}
