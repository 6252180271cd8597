//! Deliberately broken nodes make the checker fail: it is shown to bite.

use sim::Scenario;

fn scenario(extra: &str) -> Scenario {
    let text = format!(
        r#"
name = "broken"
protocol = "vrrp"
nodes = 3
duration = "12s"
seed = 5

[election]
advert_interval = "100ms"
{extra}
"#
    );
    Scenario::from_toml(&text).unwrap()
}

#[test]
fn a_node_that_never_releases_breaks_the_single_holder_invariant() {
    let healthy = sim::run(scenario(
        "[[fault]]\nat = \"4s\"\nkind = \"priority\"\nnode = 0\npriority = 1\n",
    ));
    assert!(healthy.passed(), "{}", healthy.summary());
    let broken = sim::run(scenario(
        "[[node]]\nindex = 0\ndefect = \"never_release\"\n\
         [[fault]]\nat = \"4s\"\nkind = \"priority\"\nnode = 0\npriority = 1\n",
    ));
    assert!(!broken.passed());
    assert!(
        broken
            .violations
            .iter()
            .any(|v| v.what.contains("two holders")),
        "{}",
        broken.summary()
    );
}

#[test]
fn a_holder_that_keeps_the_vip_with_its_link_down_is_caught() {
    let broken = sim::run(scenario(
        "[[node]]\nindex = 0\ndefect = \"never_release\"\n\
         [[fault]]\nat = \"4s\"\nkind = \"link_down\"\nnode = 0\n",
    ));
    assert!(
        broken
            .violations
            .iter()
            .any(|v| v.what.contains("link down")),
        "{}",
        broken.summary()
    );
}

#[test]
fn a_holder_that_never_announces_leaves_clients_behind() {
    let healthy = sim::run(scenario(
        "[[fault]]\nat = \"4s\"\nkind = \"crash\"\nnode = 0\n",
    ));
    assert!(healthy.passed(), "{}", healthy.summary());
    let broken = sim::run(scenario(
        "[[node]]\nindex = 1\ndefect = \"drop_garp\"\n\
         [[fault]]\nat = \"4s\"\nkind = \"crash\"\nnode = 0\n",
    ));
    assert!(
        broken
            .violations
            .iter()
            .any(|v| v.what.contains("ARP entry")),
        "{}",
        broken.summary()
    );
    assert!(broken.lost > healthy.lost);
}

#[test]
fn an_unexpected_final_holder_fails_the_verdict() {
    let r = sim::run(scenario(
        "[[fault]]\nat = \"4s\"\nkind = \"crash\"\nnode = 0\n[expect]\nfinal_holder = 2\n",
    ));
    assert!(r.violations.is_empty());
    assert!(!r.passed());
}
