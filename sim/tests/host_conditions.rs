//! The host's own conditions reach the core as the daemon passes them: a
//! VIP the host cannot configure (`vip_fail`), and the link's state at boot
//! (`Node::starting`).

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use sim::{Recording, Scenario, World};
use vip_core::election::vrrp::skew_time;
use vip_core::node::VIP_RETRY;
use vip_core::Duration;

/// A trace written into memory.
#[derive(Clone, Default)]
struct Lines(Rc<RefCell<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `scenario` and returns its report and its trace as `(micros, text)` lines.
fn traced(scenario: Scenario) -> (sim::Report, Vec<(u64, String)>) {
    let lines = Lines::default();
    let rec = Recording {
        trace: Some(Box::new(lines.clone())),
        pcap: None,
    };
    let report = World::new(scenario, rec).run();
    let text = String::from_utf8(lines.0.borrow().clone()).unwrap();
    let parsed = text
        .lines()
        .map(|l| {
            let (at, rest) = l.split_once(' ').unwrap();
            let (s, us) = at.trim_end_matches('s').split_once('.').unwrap();
            let micros = s.parse::<u64>().unwrap() * 1_000_000 + us.parse::<u64>().unwrap();
            (micros, rest.to_string())
        })
        .collect();
    (report, parsed)
}

fn scenario(body: &str) -> Scenario {
    let head = "name = \"host\"\nprotocol = \"vrrp\"\nnodes = 3\nduration = \"12s\"\nseed = 3\n\
                [election]\nadvert_interval = \"100ms\"\n";
    Scenario::from_toml(&format!("{head}{body}")).unwrap()
}

/// When `node` logged `what` (exactly), in microseconds.
fn times(trace: &[(u64, String)], what: &str) -> Vec<u64> {
    trace
        .iter()
        .filter(|(_, t)| t == what)
        .map(|&(at, _)| at)
        .collect()
}

#[test]
fn a_holder_whose_vip_fails_steps_aside_and_rejoins_after_vip_retry() {
    let fail_at = 4_000_000;
    let (report, trace) = traced(scenario(
        "[[fault]]\nat = \"4s\"\nkind = \"vip_fail\"\nnode = 0\n[expect]\nfinal_holder = 0\n",
    ));
    assert!(report.passed(), "{}", report.summary());
    // n0 releases at once, and a backup takes over within its Skew_Time
    // plus the priority-0 advert's way across the segment.
    assert_eq!(times(&trace, "n0 release"), [fail_at]);
    let d = report.detections[0];
    let skew = skew_time(Duration::from_millis(100), 249);
    assert!(d >= skew && d <= skew + Duration::from_millis(1), "{d:?}");
    assert_eq!(times(&trace, "n1 acquire").len(), 1);
    // n0 stays out for VIP_RETRY, then rejoins as a backup and preempts back.
    let rejoin = times(&trace, "n0 role fault -> backup");
    assert_eq!(rejoin, [fail_at + VIP_RETRY.total_micros()]);
    let back = times(&trace, "n0 acquire");
    assert!(back.len() == 2 && back[1] > rejoin[0], "{back:?}");
}

#[test]
fn a_backup_whose_add_fails_is_not_counted_as_holding() {
    let (report, trace) = traced(scenario(
        "[[fault]]\nat = \"3s\"\nkind = \"vip_fail\"\nnode = 1\n\
         [[fault]]\nat = \"4s\"\nkind = \"crash\"\nnode = 0\n[expect]\nfinal_holder = 1\n",
    ));
    assert!(report.passed(), "{}", report.summary());
    // n1 takes over from the crashed n0 but its host cannot add the VIP:
    // it is not a holder, and the failover ends at n2's acquisition.
    let failed = times(&trace, "n1 acquire: the host cannot add the VIP");
    assert_eq!(failed.len(), 1, "{trace:?}");
    let n2 = times(&trace, "n2 acquire");
    assert_eq!(n2.len(), 1);
    assert!(n2[0] > failed[0]);
    assert_eq!(
        report.detections,
        [Duration::from_micros(n2[0] - 4_000_000)]
    );
    // After VIP_RETRY n1 rejoins; its next add works and it preempts n2.
    let rejoin = times(&trace, "n1 role fault -> backup");
    assert_eq!(rejoin, [failed[0] + VIP_RETRY.total_micros()]);
    let n1 = times(&trace, "n1 acquire");
    assert!(n1.len() == 1 && n1[0] > rejoin[0], "{n1:?}");
}

#[test]
fn a_node_booting_with_its_link_down_starts_in_fault() {
    // n0 is the address owner (priority 255): booted without carrier it
    // must not claim the VIP, not even for one step.
    let (report, trace) = traced(scenario(
        "priorities = [255, 249, 248]\n\
         [[fault]]\nat = \"3s\"\nkind = \"link_down\"\nnode = 0\n\
         [[fault]]\nat = \"4s\"\nkind = \"restart\"\nnode = 0\n\
         [[fault]]\nat = \"6s\"\nkind = \"link_up\"\nnode = 0\n\
         [expect]\nfinal_holder = 0\n",
    ));
    assert!(report.passed(), "{}", report.summary());
    let booted: Vec<&str> = trace
        .iter()
        .filter(|(at, t)| *at == 4_000_000 && t.starts_with("n0 "))
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(
        booted,
        ["n0 down", "n0 boot", "n0 role initialize -> fault"]
    );
    let acquired = times(&trace, "n0 acquire");
    assert_eq!(acquired.len(), 2, "{acquired:?}");
    assert!(
        acquired[0] < 3_000_000 && acquired[1] == 6_000_000,
        "{acquired:?}"
    );
}
