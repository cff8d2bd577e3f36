//! The settings as a user meets them through the real binary: every invalid value exits 2 with one
//! line naming the variable, the value and what is allowed (fixtures in tests/fixtures/settings/);
//! warnings do not stop the run.

mod common;

use std::collections::BTreeMap;

use common::{env, helper, outcome, Scratch};

#[derive(serde::Deserialize)]
struct Fixture {
    env: BTreeMap<String, String>,
}

#[test]
fn invalid_settings_exit_2_with_one_line() {
    insta::glob!("fixtures/settings/*.json", |path| {
        let fixture: Fixture =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let project = Scratch::new("settings");
        let mut vars = env(&[("VAGRANT_DEFAULT_PROVIDER", "libvirt")]);
        vars.extend(fixture.env);
        let out = helper(&vars)
            .args(["plan", "--format", "json", "--project-dir"])
            .arg(project.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", outcome(&out));
        assert!(out.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "one line: {}",
            outcome(&out)
        );
        insta::assert_snapshot!(outcome(&out));
    });
}

fn plan_with(pairs: &[(&str, &str)]) -> std::process::Output {
    let project = Scratch::new("warn");
    let mut vars = env(&[("VAGRANT_DEFAULT_PROVIDER", "libvirt")]);
    vars.extend(env(pairs));
    helper(&vars)
        .args(["plan", "--format", "json", "--project-dir"])
        .arg(project.path())
        .output()
        .unwrap()
}

#[test]
fn two_controllers_warn_about_etcd_and_still_plan() {
    let out = plan_with(&[("CONTROL_PLANE_COUNT", "2")]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("k0s-vagrant: warning: CONTROL_PLANE_COUNT=2 gives etcd no fault tolerance"),
        "{stderr}"
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["nodes"].as_array().unwrap().len(), 3);
}

#[test]
fn memory_beyond_the_host_warns_and_still_plans() {
    // 5 workers of 4 TB each exceed any test machine.
    let out = plan_with(&[("WORKER_COUNT", "5"), ("MEMORY_WORKER", "4000000000")]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "warning: the VMs ask for 20000002048 MB of memory in all, more than this host's"
        ),
        "{stderr}"
    );
}

#[test]
fn vcpus_beyond_the_host_warn_and_still_plan() {
    let out = plan_with(&[("CPU_WORKER", "100000")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("warning: the VMs ask for 100002 vCPUs in all"));
}

#[test]
fn defaults_give_no_warning_about_etcd_or_memory() {
    let out = plan_with(&[]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("etcd") && !stderr.contains("memory"),
        "{stderr}"
    );
}

#[test]
fn same_value_in_both_spellings_is_accepted() {
    let out = plan_with(&[("WORKER_COUNT", "3"), ("worker_count", "3")]);
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["nodes"].as_array().unwrap().len(), 4);
}

#[test]
fn help_is_stable() {
    let out = helper(&BTreeMap::new())
        .args(["plan", "--help"])
        .output()
        .unwrap();
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn help_lists_every_variable_of_the_table() {
    let out = helper(&BTreeMap::new()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", outcome(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    for var in k0s_vagrant::settings::ALL_VARS {
        let names = match var.alias {
            Some(alias) => format!("  {}, {alias}\n", var.name),
            None => format!("  {}\n", var.name),
        };
        let facts = format!("[default: {}] [allowed: {}]", var.default, var.allowed);
        assert!(help.contains(&names), "{} missing:\n{help}", var.name);
        assert!(help.contains(var.description), "{}", var.name);
        assert!(help.contains(&facts), "{}: {facts}", var.name);
    }
}
