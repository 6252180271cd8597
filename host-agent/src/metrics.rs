//! Prometheus text exposition (format 0.0.4) of the node's counters.

use std::fmt::Write;

use vip_core::{Counters, DropReason, FrameKind, InKind, Role};

/// What `/metrics` shows: the core's counters plus what the agent counts.
#[derive(Debug, Clone)]
pub struct MetricsInput {
    /// The core's counters.
    pub counters: Counters,
    /// The current role.
    pub role: Role,
    /// The current priority.
    pub priority: u8,
    /// Times the holder, as this node knows it, changed.
    pub holder_changes: u64,
    /// Hook runs that failed or timed out.
    pub hook_failures: u64,
    /// Frames the socket could not send.
    pub send_errors: u64,
    /// Netlink calls that could not add or remove the VIP.
    pub vip_failures: u64,
    /// Received frames larger than the receive buffer, skipped by the socket.
    pub truncated_frames: u64,
    /// Kernel fence updates that failed (quorum).
    pub fence_failures: u64,
    /// Frames speaking for the VIP held back after the lease ended (quorum).
    pub held_frames: u64,
    /// The etcd adapter's figures (`protocol = "etcd"`).
    pub etcd: Option<crate::etcd::EtcdStatus>,
}

/// Renders the metrics as Prometheus text.
pub fn render(m: &MetricsInput) -> String {
    let c = &m.counters;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP vipd_state 1 for the node's current role, 0 for the others.\n# TYPE vipd_state gauge"
    );
    for role in Role::ALL {
        let _ = writeln!(
            out,
            "vipd_state{{state=\"{}\"}} {}",
            role.as_str(),
            u8::from(role == m.role)
        );
    }
    let simple = |out: &mut String, name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    simple(
        &mut out,
        "vipd_holder",
        "gauge",
        "1 while this node holds the VIP.",
        u64::from(m.role == Role::Holder),
    );
    simple(
        &mut out,
        "vipd_priority",
        "gauge",
        "This node's current priority.",
        u64::from(m.priority),
    );
    simple(
        &mut out,
        "vipd_holder_changes_total",
        "counter",
        "Times the VIP holder, as this node knows it, changed.",
        m.holder_changes,
    );
    simple(
        &mut out,
        "vipd_acquired_total",
        "counter",
        "Times this node acquired the VIP.",
        c.acquired,
    );
    simple(
        &mut out,
        "vipd_released_total",
        "counter",
        "Times this node released the VIP.",
        c.released,
    );
    let in_kinds: Vec<(&str, u64)> = InKind::ALL
        .iter()
        .map(|k| (k.as_str(), c.received(*k)))
        .collect();
    labelled(
        &mut out,
        "vipd_frames_in_total",
        "Frames received, by kind.",
        "kind",
        &in_kinds,
    );
    let out_kinds: Vec<(&str, u64)> = FrameKind::ALL
        .iter()
        .map(|k| (k.as_str(), c.sent(*k)))
        .collect();
    labelled(
        &mut out,
        "vipd_frames_out_total",
        "Frames sent, by kind.",
        "kind",
        &out_kinds,
    );
    let reasons: Vec<(&str, u64)> = DropReason::ALL
        .iter()
        .map(|r| (r.as_str(), c.dropped(*r)))
        .collect();
    labelled(
        &mut out,
        "vipd_frames_dropped_total",
        "Frames meant for this node that were dropped, by reason.",
        "reason",
        &reasons,
    );
    simple(
        &mut out,
        "vipd_conflicts_total",
        "counter",
        "Times another MAC claimed the VIP while this node held it.",
        c.conflicts,
    );
    simple(
        &mut out,
        "vipd_send_errors_total",
        "counter",
        "Frames the packet socket failed to send.",
        m.send_errors,
    );
    simple(
        &mut out,
        "vipd_frames_oversized_total",
        "counter",
        "Received frames larger than the receive buffer (MTU + 18), skipped before the core.",
        m.truncated_frames,
    );
    simple(
        &mut out,
        "vipd_vip_netlink_failures_total",
        "counter",
        "Netlink calls that could not add or remove the VIP (an add failure steps the node aside for 1 s).",
        m.vip_failures,
    );
    simple(
        &mut out,
        "vipd_fence_failures_total",
        "counter",
        "Kernel fence updates that failed (quorum; the fence stays at its last deadline).",
        m.fence_failures,
    );
    simple(
        &mut out,
        "vipd_held_frames_total",
        "counter",
        "Gratuitous ARPs and ARP replies held back because the lease had ended (quorum).",
        m.held_frames,
    );
    simple(
        &mut out,
        "vipd_hook_failures_total",
        "counter",
        "Hook runs that failed, could not start or timed out.",
        m.hook_failures,
    );
    if let Some(e) = &m.etcd {
        simple(
            &mut out,
            "vipd_etcd_keepalives_sent_total",
            "counter",
            "Keep-alives (and lease grants) sent to etcd.",
            e.keepalives_sent,
        );
        simple(
            &mut out,
            "vipd_etcd_keepalives_answered_total",
            "counter",
            "Keep-alives (and lease grants) etcd answered with a live lease.",
            e.keepalives_answered,
        );
        simple(
            &mut out,
            "vipd_etcd_retries_total",
            "counter",
            "etcd requests (campaign, resign, revoke, move) that failed and were tried again.",
            e.retries,
        );
        simple(
            &mut out,
            "vipd_etcd_watch_starts_total",
            "counter",
            "Times the watch on the election's prefix was (re)started.",
            e.watch_starts,
        );
        simple(
            &mut out,
            "vipd_etcd_healthy",
            "gauge",
            "1 while this node has a lease and its last etcd request succeeded.",
            u64::from(e.lease.is_some() && e.problem.is_none()),
        );
    }
    simple(
        &mut out,
        "vipd_queue_overflows_total",
        "counter",
        "Core outputs lost to a full queue (a bug if not zero).",
        c.queue_overflows,
    );
    out
}

fn labelled(out: &mut String, name: &str, help: &str, label: &str, values: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (value, count) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> MetricsInput {
        let mut counters = Counters {
            adverts_in: 7,
            conflicts: 2,
            ..Counters::default()
        };
        counters.frames_out[FrameKind::Garp as usize] = 3;
        counters.dropped[1] = 4; // ipv4_header
        MetricsInput {
            counters,
            role: Role::Holder,
            priority: 150,
            holder_changes: 5,
            hook_failures: 1,
            send_errors: 0,
            vip_failures: 0,
            truncated_frames: 0,
            fence_failures: 0,
            held_frames: 0,
            etcd: None,
        }
    }

    #[test]
    fn renders_every_required_family() {
        let text = render(&input());
        for line in [
            "vipd_vip_netlink_failures_total 0",
            "vipd_frames_oversized_total 0",
            "vipd_state{state=\"master\"} 1",
            "vipd_state{state=\"backup\"} 0",
            "vipd_holder 1",
            "vipd_priority 150",
            "vipd_holder_changes_total 5",
            "vipd_frames_in_total{kind=\"advert\"} 7",
            "vipd_frames_in_total{kind=\"dropped\"} 4",
            "vipd_frames_out_total{kind=\"garp\"} 3",
            "vipd_frames_out_total{kind=\"advert\"} 0",
            "vipd_frames_dropped_total{reason=\"ipv4_header\"} 4",
            "vipd_frames_dropped_total{reason=\"looped\"} 0",
            "vipd_conflicts_total 2",
            "vipd_hook_failures_total 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn every_family_has_help_and_type_once() {
        let text = render(&input());
        let mut families = std::collections::BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(families.insert(name.to_owned()), "{name} typed twice");
                assert!(
                    text.contains(&format!("# HELP {name} ")),
                    "{name} has no HELP"
                );
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(families.contains(name), "{name} sample before its TYPE");
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<u64>().is_ok(), "bad value in {line:?}");
            }
        }
        assert!(text.ends_with('\n'));
    }
}
