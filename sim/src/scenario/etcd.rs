//! Reading `[etcd]`: the modelled etcd's paths and clock, every value
//! typed once, each refusal naming its key.
//!
//! `etcd.lease_ttl` is the core's key, read with the rest of the election
//! (`EtcdSettings::read`) and judged by the core (at least 2 s, whole
//! seconds); the rest is the world's: each node's path to etcd (latency,
//! jitter, loss) and the etcd leader's clock, which drifts within
//! `election.max_drift` as every node's does.

use vip_core::config::text::Refusals;
use vip_core::{Duration, Protocol};

use super::raw::RawEtcd;
use super::read::{Problems, DRIFT_PPM};
use super::EtcdSpec;

/// `etcd.delay` when the file names none: a LAN's one way.
pub const ETCD_DELAY: Duration = Duration::from_micros(200);
/// `etcd.jitter` when the file names none.
pub const ETCD_JITTER: Duration = Duration::from_micros(50);

/// Reads `[etcd]` for `protocol` (`None` unless it is etcd), its drift
/// within `max_drift` ppm.
pub(super) fn read(
    raw: Option<&RawEtcd>,
    protocol: Protocol,
    max_drift: u32,
    p: &mut Problems,
) -> Option<EtcdSpec> {
    if protocol != Protocol::Etcd {
        if raw.is_some() {
            p.fail(
                "etcd",
                format!(
                    "applies only to protocol = \"etcd\", not to protocol = \"{}\"; remove it",
                    protocol.as_str()
                ),
            );
        }
        return None;
    }
    let empty = RawEtcd {
        lease_ttl: None,
        delay: None,
        jitter: None,
        loss: None,
        drift_ppm: None,
    };
    let raw = raw.unwrap_or(&empty);
    let mut drift_ppm = 0;
    if let Some(d) = raw.drift_ppm {
        if p.within("etcd.drift_ppm", d, DRIFT_PPM) {
            if d.unsigned_abs() > u64::from(max_drift) {
                let message = format!(
                    "{d} ppm is beyond election.max_drift ({max_drift} ppm), the clock-rate \
                     bound the etcd election assumes"
                );
                p.fail("etcd.drift_ppm", message);
            } else {
                drift_ppm = d as i32;
            }
        }
    }
    Some(EtcdSpec {
        delay: p.duration("etcd.delay", raw.delay.as_deref(), ETCD_DELAY),
        jitter: p.duration("etcd.jitter", raw.jitter.as_deref(), ETCD_JITTER),
        loss_ppm: p.probability("etcd.loss", raw.loss),
        drift_ppm,
    })
}

#[cfg(test)]
mod tests {
    use vip_core::{Duration, ElectionSettings};

    use crate::scenario::{FaultKind, Scenario, ScenarioError};

    fn etcd(body: &str) -> Result<Scenario, Vec<ScenarioError>> {
        let head = "name = \"x\"\nprotocol = \"etcd\"\nnodes = 3\nduration = \"10s\"\n";
        Scenario::from_toml(&format!("{head}{body}"))
    }

    fn fields(errors: &[ScenarioError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn the_etcd_table_reads_the_paths_the_clock_and_the_cores_ttl() {
        let s = etcd(
            "[election]\nmax_drift = 800\nfence_margin = \"2ms\"\n\
             [etcd]\nlease_ttl = \"4s\"\ndelay = \"1ms\"\njitter = \"0\"\nloss = 0.25\n\
             drift_ppm = -800\n\
             [[fault]]\nat = \"1s\"\nkind = \"etcd_stall\"\nduration = \"3s\"\n",
        )
        .unwrap();
        let e = s.etcd.unwrap();
        assert_eq!(
            (e.delay, e.jitter),
            (Duration::from_millis(1), Duration::ZERO)
        );
        assert_eq!((e.loss_ppm, e.drift_ppm), (250_000, -800));
        let ElectionSettings::Etcd(c) = s.nodes[2].config.election() else {
            panic!("an etcd config");
        };
        assert_eq!(c.lease_ttl, Duration::from_secs(4));
        assert_eq!(
            (c.max_drift_ppm, c.fence_margin),
            (800, Duration::from_millis(2))
        );
        assert_eq!(
            (s.bound.drift_ppm, s.bound.fence_leak),
            (800, Duration::from_millis(2))
        );
        assert_eq!(
            s.faults[0].kind,
            FaultKind::EtcdStall(Duration::from_secs(3))
        );
        let d = etcd("").unwrap().etcd.unwrap();
        assert_eq!((d.delay, d.jitter), (super::ETCD_DELAY, super::ETCD_JITTER));
    }

    #[test]
    fn etcd_rules_name_the_files_key() {
        // The core's: etcd grants whole seconds, at least 2.
        let errors = etcd("[etcd]\nlease_ttl = \"1500ms\"\n").unwrap_err();
        assert_eq!(fields(&errors), ["etcd.lease_ttl", "etcd.lease_ttl"]);
        // The simulator's: etcd's clock and the nodes' within the bound.
        let errors =
            etcd("[etcd]\ndrift_ppm = 600\n[[node]]\nindex = 1\ndrift_ppm = -501\n").unwrap_err();
        assert_eq!(fields(&errors), ["node[0].drift_ppm", "etcd.drift_ppm"]);
        assert!(
            errors[1].message.contains("etcd election assumes"),
            "{errors:?}"
        );
        // Keys of the other protocols, and etcd's away from etcd.
        let errors = etcd("[election]\nadvert_interval = \"1s\"\nlease = \"1s\"\n").unwrap_err();
        assert_eq!(
            fields(&errors),
            ["election.advert_interval", "election.lease"]
        );
        let quorum = "name = \"x\"\nprotocol = \"quorum\"\nnodes = 3\nduration = \"1s\"\n";
        let errors = Scenario::from_toml(&format!(
            "{quorum}[etcd]\n[[fault]]\nat = \"1s\"\nkind = \"etcd_down\"\n\
             [[node]]\nindex = 0\ndefect = \"keepalive_before_asked\"\n\
             [[node]]\nindex = 1\ndefect = \"resigned_when_sent\"\n"
        ))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            ["etcd", "node[0].defect", "node[1].defect", "fault[0].kind"]
        );
        assert!(etcd("[dhcp]\n").is_ok(), "the DHCP VIP under etcd");
        let errors = etcd("drift = \"adversarial\"\n").unwrap_err();
        assert_eq!(fields(&errors), ["drift"]);
        // A move and no_drift_margin on one node are fine under etcd.
        let s = etcd(
            "[[node]]\nindex = 1\ndefect = \"no_drift_margin\"\n\
             [[fault]]\nat = \"1s\"\nkind = \"move\"\nnode = 0\n",
        )
        .unwrap();
        let ElectionSettings::Etcd(c) = s.nodes[1].config.election() else {
            panic!("an etcd config");
        };
        assert_eq!((c.max_drift_ppm, c.fence_margin), (0, Duration::ZERO));
    }
}
