//! Broken configs and missing privileges: `vipd check` and `vipd run` refuse
//! them with the exit code and the `FILE: KEY: RULE` lines the docs promise.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::hostile::lab::{config, Lab, VIP};
use crate::{assert_no_panic, stderr};

/// Asserts exit code 2 and that every stderr line is `FILE: KEY: RULE`,
/// one of them with `key` and the rule text `rule`.
fn assert_config_refused(out: &Output, file: &Path, key: &str, rule: &str) {
    let err = stderr(out);
    assert_no_panic(out, key);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{key}: exit code {:?}, stderr:\n{err}",
        out.status
    );
    let prefix = format!("{}: ", file.display());
    let lines: Vec<&str> = err.lines().collect();
    assert!(!lines.is_empty(), "{key}: no message");
    for line in &lines {
        assert!(
            line.starts_with(&prefix),
            "{key}: line does not name the file {prefix:?}: {line:?}"
        );
    }
    // A key ending in a space is a prefix ("line 1, column "), else exact.
    let wanted = if key.ends_with(' ') {
        format!("{prefix}{key}")
    } else {
        format!("{prefix}{key}: ")
    };
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&wanted) && l.contains(rule)),
        "{key}: no line {wanted:?}…{rule:?} in:\n{err}"
    );
}

/// A valid config for member 0 of `lab`, with `[vip]` and `[election]`
/// spelled out so that cases can replace one line.
fn good_config(lab: &Lab) -> String {
    config(lab, 0, "node-a", 100, "1s", "")
}

/// One broken config: its name, the text, the key and rule the message must
/// carry.
struct Case {
    name: &'static str,
    text: String,
    key: &'static str,
    rule: &'static str,
}

fn broken_configs(lab: &Lab) -> Vec<Case> {
    let good = good_config(lab);
    let iface_line = format!("interface = \"{}\"\n", lab.members[0].iface);
    let replace = |from: &str, to: &str| {
        assert!(good.contains(from), "{from:?} not in the base config");
        good.replacen(from, to, 1)
    };
    let own = lab.members[0].addr.to_string();
    vec![
        Case {
            name: "unknown-key",
            text: replace("priority = 100", "prioirty = 100"),
            key: "election.prioirty",
            rule: "unknown key (known keys: protocol, priority,",
        },
        Case {
            name: "unknown-table",
            text: format!("{good}\n[electoin]\nvrid = 3\n"),
            key: "electoin",
            rule: "unknown key",
        },
        Case {
            name: "wrong-type",
            text: replace("priority = 100", "priority = \"high\""),
            key: "election.priority",
            rule: "must be an integer",
        },
        Case {
            name: "wrong-type-table",
            text: replace("[vip]\naddress = \"192.0.2.100\"", "vip = 5"),
            key: "vip",
            rule: "must be a table",
        },
        Case {
            name: "bad-duration",
            text: replace("advert_interval = \"1s\"", "advert_interval = \"fast\""),
            key: "election.advert_interval",
            rule: "\"fast\"",
        },
        Case {
            name: "duration-not-centis",
            text: replace("advert_interval = \"1s\"", "advert_interval = \"15ms\""),
            key: "election.advert_interval",
            rule: "multiple of 10ms",
        },
        Case {
            name: "priority-high",
            text: replace("priority = 100", "priority = 300"),
            key: "election.priority",
            rule: "must be from 1 to 255, not 300",
        },
        Case {
            name: "priority-zero",
            text: replace("priority = 100", "priority = 0"),
            key: "election.priority",
            rule: "must be from 1 to 255, not 0",
        },
        Case {
            name: "priority-negative",
            text: replace("priority = 100", "priority = -1"),
            key: "election.priority",
            rule: "must be from 1 to 255, not -1",
        },
        Case {
            name: "priority-huge",
            text: replace("priority = 100", "priority = 99999999999999999999"),
            key: "election.priority",
            rule: "must be an integer",
        },
        Case {
            name: "vrid-zero",
            text: replace("vrid = 51", "vrid = 0"),
            key: "election.vrid",
            rule: "must be from 1 to 255, not 0",
        },
        Case {
            name: "vip-is-node",
            text: replace("address = \"192.0.2.100\"", &format!("address = \"{own}\"")),
            key: "vip.address",
            rule: "must differ from the node's own address",
        },
        Case {
            name: "vip-outside",
            text: replace("address = \"192.0.2.100\"", "address = \"198.51.100.7\""),
            key: "vip.address",
            rule: "198.51.100.7",
        },
        Case {
            name: "vip-broadcast",
            text: replace("address = \"192.0.2.100\"", "address = \"192.0.2.255\""),
            key: "vip.address",
            rule: "192.0.2.255",
        },
        Case {
            name: "vip-is-member",
            text: format!("{good}\n[[member]]\nname = \"node-b\"\naddress = \"{VIP}\"\n"),
            key: "vip.address",
            rule: "must differ from member node-b's address 192.0.2.100",
        },
        Case {
            name: "vip-not-an-address",
            text: replace("address = \"192.0.2.100\"", "address = \"192.0.2.300\""),
            key: "vip.address",
            rule: "must be an IPv4 address",
        },
        Case {
            name: "missing-vip",
            text: replace("[vip]\naddress = \"192.0.2.100\"", ""),
            key: "vip",
            rule: "is required",
        },
        Case {
            name: "invalid-toml",
            text: replace("priority = 100", "priority = = 100"),
            key: "line 9, column 12",
            rule: "invalid TOML",
        },
        Case {
            name: "unclosed-table",
            text: replace("[election]", "[election"),
            key: "line 8, column 10",
            rule: "invalid TOML",
        },
        Case {
            name: "missing-interface",
            text: good.replace(&iface_line, ""),
            key: "interface",
            rule: "is required",
        },
        Case {
            name: "absent-interface",
            text: good.replace(&iface_line, "interface = \"nosuch0\"\n"),
            key: "interface",
            rule: "no interface named \"nosuch0\" in this network namespace",
        },
        Case {
            name: "loopback-interface",
            text: good.replace(&iface_line, "interface = \"lo\"\n"),
            key: "interface",
            rule: "lo",
        },
        Case {
            name: "bad-interface-name",
            text: good.replace(&iface_line, "interface = \"../../etc/passwd\"\n"),
            key: "interface",
            rule: "must be an interface name",
        },
        Case {
            name: "quorum",
            text: replace("[election]\n", "[election]\nprotocol = \"quorum\"\n"),
            key: "election.key_file",
            rule: "is required for protocol = \"quorum\"",
        },
        Case {
            name: "member-outside",
            text: format!("{good}\n[[member]]\nname = \"far\"\naddress = \"203.0.113.9\"\n"),
            key: "member[1].address",
            rule: "must be inside the node's subnet 192.0.2.0/24",
        },
        Case {
            name: "empty-file",
            text: String::new(),
            key: "cluster",
            rule: "is required",
        },
    ]
}

#[test]
fn broken_configs_are_refused_with_file_and_key() {
    require_root!();
    let lab = Lab::new(1).expect("lab");
    let mut checked = 0;
    for case in broken_configs(&lab) {
        let file = lab.write(&format!("{}.toml", case.name), &case.text);
        let out = lab.vipd_in(0, &["check", "--config", file.to_str().unwrap()]);
        assert_config_refused(&out, &file, case.key, case.rule);
        assert!(out.stdout.is_empty(), "{}: printed a config", case.name);
        checked += 1;
    }
    println!("{checked} broken configs refused by `vipd check` with exit 2");
}

#[test]
fn every_value_problem_is_reported_at_once() {
    require_root!();
    let lab = Lab::new(1).expect("lab");
    let text = good_config(&lab)
        .replace("priority = 100", "priority = 0")
        .replace("vrid = 51", "vrid = 256")
        .replace(
            "advert_interval = \"1s\"",
            "advert_interval = \"1 fortnight\"",
        )
        + "\n[hooks]\ntimeout = \"-1s\"\n";
    let file = lab.write("many.toml", text);
    let out = lab.vipd_in(0, &["check", "--config", file.to_str().unwrap()]);
    for key in [
        "election.priority",
        "election.vrid",
        "election.advert_interval",
        "hooks.timeout",
    ] {
        assert_config_refused(&out, &file, key, "");
    }
}

#[test]
fn unreadable_and_binary_files_are_config_errors() {
    require_root!();
    let lab = Lab::new(1).expect("lab");
    let binary = lab.write(
        "binary.toml",
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    );
    let nul = lab.write("nul.toml", b"cluster = \"a\0b\"\n");
    let huge = lab.write("huge.toml", "#".repeat(8 << 20) + "\n[[[[[\n");
    let missing = lab.path("does-not-exist.toml");
    let dir = lab.dir().to_path_buf();
    let cases: [(&Path, &str, &str); 5] = [
        (&binary, "file", "cannot be read"),
        (&nul, "line 1, column ", "invalid TOML"),
        (&huge, "line 2, column ", "invalid TOML"),
        (&missing, "file", "cannot be read"),
        (&dir, "file", "cannot be read"),
    ];
    for (file, key, rule) in cases {
        let out = lab.vipd_in(0, &["check", "--config", file.to_str().unwrap()]);
        assert_config_refused(&out, file, key, rule);
    }
}

/// `vipd run` with a broken config exits 2 before it touches anything: a
/// `VIP/32` left on the interface stays, no status socket appears.
#[test]
fn run_refuses_broken_configs_before_touching_anything() {
    require_root!();
    let lab = Lab::new(1).expect("lab");
    let iface = lab.members[0].iface.clone();
    crate::hostile::lab::ip(&[
        "-n",
        &lab.members[0].ns,
        "address",
        "add",
        &format!("{VIP}/32"),
        "dev",
        &iface,
    ])
    .expect("stale VIP");
    let socket = lab.path("node-a.sock");
    let cases = broken_configs(&lab);
    let chosen = [
        "priority-high",
        "vip-is-node",
        "absent-interface",
        "quorum",
        "invalid-toml",
    ];
    for case in cases.iter().filter(|c| chosen.contains(&c.name)) {
        let file = lab.write(&format!("run-{}.toml", case.name), &case.text);
        let started = Instant::now();
        let out = lab.vipd_in(0, &["run", "--config", file.to_str().unwrap()]);
        assert_config_refused(&out, &file, case.key, case.rule);
        assert!(started.elapsed() < Duration::from_secs(5), "{}", case.name);
        assert!(
            lab.has_vip(0),
            "{}: `vipd run` removed the stale VIP before refusing its config",
            case.name
        );
        assert!(!socket.exists(), "{}: created its status socket", case.name);
    }
}

/// Runs `vipd run` under `setpriv ARGS`; its output.
fn run_restricted(lab: &Lab, setpriv: &[&str], config: &Path) -> Output {
    let mut wrapper = vec!["setpriv"];
    wrapper.extend_from_slice(setpriv);
    wrapper.push("--");
    lab.command_in(0, &wrapper, &["run", "--config", config.to_str().unwrap()])
}

#[test]
fn missing_privileges_are_named() {
    if !crate::netns::can_run(
        "missing_privileges_are_named",
        &[crate::hostile::lab::TOOLS, &["setpriv"]].concat(),
    ) {
        return;
    }
    let lab = Lab::new(1).expect("lab");
    let text = good_config(&lab);
    let file = lab.write("node-a.toml", text);
    let socket = lab.path("node-a.sock");
    let iface = lab.members[0].iface.clone();
    let unprivileged = [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ];
    let cases: [(&[&str], &[&str], &[&str]); 3] = [
        (&unprivileged, &["CAP_NET_RAW", "CAP_NET_ADMIN"], &[]),
        (
            &["--bounding-set=-net_raw"],
            &["CAP_NET_RAW (needed for the AF_PACKET socket on"],
            &["CAP_NET_ADMIN"],
        ),
        (
            &["--bounding-set=-net_admin"],
            &["CAP_NET_ADMIN (needed to add and remove the VIP on"],
            &["CAP_NET_RAW"],
        ),
    ];
    for (setpriv, named, not_named) in cases {
        let out = run_restricted(&lab, setpriv, &file);
        let err = stderr(&out);
        assert_no_panic(&out, &setpriv.join(" "));
        assert_eq!(
            out.status.code(),
            Some(1),
            "setpriv {setpriv:?}: docs/operations.md promises exit 1 for a missing capability; stderr:\n{err}"
        );
        for name in named {
            assert!(
                err.contains(name) && err.contains(&iface),
                "setpriv {setpriv:?}: stderr does not name {name} on {iface}:\n{err}"
            );
        }
        for name in not_named {
            assert!(
                !err.contains(name),
                "setpriv {setpriv:?}: stderr names {name}, which is present:\n{err}"
            );
        }
        assert!(!lab.has_vip(0), "took the VIP without privileges");
        assert!(!socket.exists(), "created its socket without privileges");
        println!("setpriv {}: exit 1, {}", setpriv.join(" "), err.trim());
    }
}
